import type { Picodollars } from "./money.js";
import type { CallCost, ServiceTier } from "./pricing.js";
import type { TokenUsage } from "./usage.js";

export const CALL_TYPES = [
  "indicator_summary",
  "comprehensive_overview",
  "volume_analysis",
  "reversal_patterns",
  "continuation_levels",
  "final_decision",
] as const;

export type CallType = (typeof CALL_TYPES)[number];

export type CallStatus = "success" | "failure" | "interrupted";

/** One LLM attempt, as the ledger keeps it. Keyed by (callType, attempt) within an analysis. */
export interface CallRecord {
  callType: string;
  attempt: number;
  model: string;
  status: CallStatus;
  usage: TokenUsage;
  cost: CallCost;
  errorType: string | null;
  errorMessage: string | null;
  startedAt: Date;
  durationMs: number;
  inputChars: number;
  outputChars: number;
  /** The provider's usageMetadata exactly as received, for audit and re-pricing. */
  rawUsage: unknown;
  /** Fingerprint of the exact input (model, prompt version, prompts): equal hashes may reuse the answer. */
  inputHash: string | null;
  /** The worst case reserved before it was sent (null: no cap applied); billed past it is an overshoot. */
  reservedTokens?: number | null;
  /** Served interactively (default) or through the Batch API, at the batch rates. */
  serviceTier?: ServiceTier;
  /**
   * Batch calls: their cost at the standard rates less their cost (batch-saving.ts); null or
   * absent on standard calls and on batch calls of a model with no known price.
   */
  batchSavedPico?: Picodollars | null;
}

/** A stage answered from an earlier analysis' identical call instead of a new, billed one. */
export interface ReusedStage {
  callType: string;
  fromAnalysisId: string;
  tokensSaved: number;
  /** null when the original call could not be priced. */
  costSavedPico: bigint | null;
}
