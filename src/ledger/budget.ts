import { formatUsd, type Picodollars } from "./money.js";
import { priceCall } from "./pricing.js";
import type { TokenTotals } from "./token-tracker.js";
import { ZERO_USAGE } from "./usage.js";

/** Per-analysis limits (`analyze --max-tokens`, `--max-cost`); null = no limit. */
export interface AnalysisLimits {
  maxTokens: number | null;
  maxCostPico: Picodollars | null;
}

export const NO_LIMITS: AnalysisLimits = { maxTokens: null, maxCostPico: null };

export const hasLimits = (limits: AnalysisLimits) => limits.maxTokens !== null || limits.maxCostPico !== null;

const n = (value: number) => value.toLocaleString("en-US");

/** Why the analysis may not spend more, or null while it is within its limits. */
export function limitReached(totals: TokenTotals, limits: AnalysisLimits): string | null {
  if (limits.maxTokens !== null && totals.totalTokens >= limits.maxTokens) {
    return `token limit reached: ${n(totals.totalTokens)} of ${n(limits.maxTokens)} tokens`;
  }
  if (limits.maxCostPico !== null && totals.costPico !== null && totals.costPico >= limits.maxCostPico) {
    return `cost limit reached: ${formatUsd(totals.costPico)} of ${formatUsd(limits.maxCostPico)}`;
  }
  return null;
}

/** The most a call can bill: its counted prompt plus the bounds it is sent with. */
export interface WorstCase {
  tokens: number;
  /** null when the model has no price. */
  costPico: Picodollars | null;
}

/**
 * A call's worst case: every prompt token at the uncached input rate (the long-context rate
 * when the prompt is that long), and a full answer plus a full thinking budget at the output
 * rate. Counted as if the provider billed thinking beyond maxOutputTokens, so it holds either way.
 */
export function worstCase(
  model: string,
  call: { inputTokens: number; maxOutputTokens: number; thinkingBudget: number | null },
  at: Date = new Date(),
): WorstCase {
  const thinking = call.thinkingBudget ?? 0;
  const output = call.maxOutputTokens + thinking;
  const tokens = call.inputTokens + output;
  const cost = priceCall(
    model,
    {
      ...ZERO_USAGE,
      inputTokens: call.inputTokens,
      outputTokens: output,
      thinkingTokens: thinking,
      totalTokens: tokens,
    },
    at,
  );
  return { tokens, costPico: cost.costPico };
}

/**
 * Why a call of `worst` may not be sent under `limits`, given what the analysis has spent and
 * what its other calls in flight hold; null when it fits. Spent + held + worst never passes a cap.
 */
export function exceedsLimits(
  spent: TokenTotals,
  held: { tokens: number; costPico: Picodollars },
  worst: WorstCase,
  limits: AnalysisLimits,
): string | null {
  if (limits.maxTokens !== null) {
    const left = limits.maxTokens - spent.totalTokens - held.tokens;
    if (worst.tokens > left) {
      return `token limit ${n(limits.maxTokens)}: the call may bill up to ${n(worst.tokens)} tokens and ${n(Math.max(0, left))} are left (${n(spent.totalTokens)} spent, ${n(held.tokens)} held by calls in flight)`;
    }
  }
  if (limits.maxCostPico !== null) {
    if (worst.costPico === null || spent.costPico === null) {
      return `cost limit ${formatUsd(limits.maxCostPico)}: the model has no price, so a call's cost cannot be bounded`;
    }
    const left = limits.maxCostPico - spent.costPico - held.costPico;
    if (worst.costPico > left) {
      return `cost limit ${formatUsd(limits.maxCostPico)}: the call may cost up to ${formatUsd(worst.costPico)} and ${formatUsd(left > 0n ? left : 0n)} is left`;
    }
  }
  return null;
}
