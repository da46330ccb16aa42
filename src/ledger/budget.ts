import { formatUsd, type Picodollars } from "./money.js";
import type { TokenTotals } from "./token-tracker.js";

/** Per-analysis limits (`analyze --max-tokens`, `--max-cost`); null = no limit. */
export interface AnalysisLimits {
  maxTokens: number | null;
  maxCostPico: Picodollars | null;
}

export const NO_LIMITS: AnalysisLimits = { maxTokens: null, maxCostPico: null };

/** Why the analysis may not spend more, or null while it is within its limits. */
export function limitReached(totals: TokenTotals, limits: AnalysisLimits): string | null {
  if (limits.maxTokens !== null && totals.totalTokens >= limits.maxTokens) {
    return `token limit reached: ${totals.totalTokens.toLocaleString("en-US")} of ${limits.maxTokens.toLocaleString("en-US")} tokens`;
  }
  if (limits.maxCostPico !== null && totals.costPico !== null && totals.costPico >= limits.maxCostPico) {
    return `cost limit reached: ${formatUsd(totals.costPico)} of ${formatUsd(limits.maxCostPico)}`;
  }
  return null;
}
