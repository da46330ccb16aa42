import type { CallRecord, ReusedStage } from "./call-record.js";
import { type Picodollars, picoToNumber } from "./money.js";

export interface TokenTotals {
  calls: number;
  successfulCalls: number;
  failedCalls: number;
  inputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
  cachedInputTokens: number;
  totalTokens: number;
  durationMs: number;
  /** null as soon as one call could not be priced (unknown model). */
  costPico: Picodollars | null;
  modalityTokens: { input: Record<string, number>; output: Record<string, number> };
  /** Calls served through the Batch API. */
  batchCalls: number;
  /** What those saved against the standard rates (calls of unpriced models add nothing). */
  batchSavedPico: Picodollars;
}

export interface CallError {
  attempt: number;
  type: string;
  message: string;
}

/** The JSON shape of one `token_usage_breakdown` entry (DESIGN §4). */
export interface BreakdownEntry {
  calls: number;
  successful_calls: number;
  failed_calls: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  total_tokens: number;
  duration_ms: number;
  cost_usd: number | null;
  modality_tokens: { input: Record<string, number>; output: Record<string, number> };
  errors: CallError[];
  /** Set when the stage was answered from an earlier analysis instead of a new call. */
  reused_from?: string;
  tokens_saved?: number;
  cost_saved_usd?: number | null;
  /** Set when some of the stage's calls went through the Batch API. */
  batch_calls?: number;
  batch_saved_usd?: number;
}

export interface SavedTotals {
  tokensSaved: number;
  /** null when a reused call had no known price. */
  costSavedPico: Picodollars | null;
}

const emptyTotals = (): TokenTotals => ({
  calls: 0,
  successfulCalls: 0,
  failedCalls: 0,
  inputTokens: 0,
  outputTokens: 0,
  thinkingTokens: 0,
  cachedInputTokens: 0,
  totalTokens: 0,
  durationMs: 0,
  costPico: 0n,
  modalityTokens: { input: {}, output: {} },
  batchCalls: 0,
  batchSavedPico: 0n,
});

function addModality(target: Record<string, number>, source: Record<string, number>, sign: 1 | -1) {
  // for…in, not Object.entries: no array per call on the hot path.
  for (const modality in source) {
    const next = (target[modality] ?? 0) + sign * (source[modality] as number);
    if (next === 0) delete target[modality];
    else target[modality] = next;
  }
}

/** A breakdown entry with nothing counted yet. */
export const emptyBreakdownEntry = (): BreakdownEntry => ({
  calls: 0,
  successful_calls: 0,
  failed_calls: 0,
  input_tokens: 0,
  output_tokens: 0,
  thinking_tokens: 0,
  cached_input_tokens: 0,
  total_tokens: 0,
  duration_ms: 0,
  cost_usd: 0,
  modality_tokens: { input: {}, output: {} },
  errors: [],
});

/** Adds (sign 1) or removes (sign -1) one call's token figures; cost is kept by the caller. */
function applyTokens(totals: TokenTotals, call: CallRecord, sign: 1 | -1): void {
  const { usage } = call;
  totals.calls += sign;
  if (call.status === "success") totals.successfulCalls += sign;
  else totals.failedCalls += sign;
  totals.inputTokens += sign * usage.inputTokens;
  totals.outputTokens += sign * usage.outputTokens;
  totals.thinkingTokens += sign * usage.thinkingTokens;
  totals.cachedInputTokens += sign * usage.cachedInputTokens;
  totals.totalTokens += sign * usage.totalTokens;
  totals.durationMs += sign * call.durationMs;
  addModality(totals.modalityTokens.input, usage.modalityTokens.input, sign);
  addModality(totals.modalityTokens.output, usage.modalityTokens.output, sign);
  if (call.serviceTier === "batch") {
    totals.batchCalls += sign;
    const saved = call.batchSavedPico ?? 0n;
    totals.batchSavedPico += sign === 1 ? saved : -saved;
  }
}

const newLedger = (): TypeLedger => ({
  totals: emptyTotals(),
  attempts: new Map(),
  pricedCost: 0n,
  unpriced: 0,
});

interface TypeLedger {
  totals: TokenTotals;
  /** Attempt number → index of its record in the tracker's calls (numbers, not joined-string keys). */
  attempts: Map<number, number>;
  /** Cost of priced calls; kept apart so `null` (unknown) can recover when an unpriced call is replaced. */
  pricedCost: Picodollars;
  unpriced: number;
}

/**
 * The token ledger of one analysis. Calls are keyed by (callType, attempt), so recording
 * the same attempt again replaces it: a resumed job that re-reads stored calls can never
 * count a token twice. Totals are kept incrementally, so recording is O(1).
 */
export class TokenTracker {
  /** In the order first recorded; a replaced attempt keeps its place. */
  readonly #calls: CallRecord[] = [];
  readonly #byType = new Map<string, TypeLedger>();
  readonly #overall: TypeLedger = newLedger();
  readonly #reused = new Map<string, ReusedStage>();

  constructor(
    readonly analysisId: string,
    readonly ticker: string,
    readonly model: string,
  ) {}

  recordCall(call: CallRecord): void {
    let ledger = this.#byType.get(call.callType);
    if (!ledger) {
      ledger = newLedger();
      this.#byType.set(call.callType, ledger);
    }
    const index = ledger.attempts.get(call.attempt);
    if (index === undefined) {
      ledger.attempts.set(call.attempt, this.#calls.length);
      this.#calls.push(call);
    } else {
      const previous = this.#calls[index] as CallRecord;
      this.#account(ledger, previous, -1);
      this.#account(this.#overall, previous, -1);
      this.#calls[index] = call;
    }
    this.#account(ledger, call, 1);
    this.#account(this.#overall, call, 1);
  }

  #account(ledger: TypeLedger, call: CallRecord, sign: 1 | -1): void {
    if (call.cost.costPico === null) ledger.unpriced += sign;
    else ledger.pricedCost += sign === 1 ? call.cost.costPico : -call.cost.costPico;
    applyTokens(ledger.totals, call, sign);
    ledger.totals.costPico = ledger.unpriced > 0 ? null : ledger.pricedCost;
  }

  /** A stage answered by reuse: no call, no tokens spent, the original's tokens and cost saved. */
  recordReuse(reuse: ReusedStage): void {
    this.#reused.set(reuse.callType, reuse);
  }

  saved(): SavedTotals {
    let tokensSaved = 0;
    let costSavedPico: Picodollars | null = 0n;
    for (const reuse of this.#reused.values()) {
      tokensSaved += reuse.tokensSaved;
      costSavedPico =
        costSavedPico === null || reuse.costSavedPico === null ? null : costSavedPico + reuse.costSavedPico;
    }
    return { tokensSaved, costSavedPico };
  }

  /** Calls in the order they were first recorded. */
  calls(): CallRecord[] {
    return [...this.#calls];
  }

  totals(): TokenTotals {
    return structuredClone(this.#overall.totals);
  }

  totalsFor(callType: string): TokenTotals {
    return structuredClone(this.#byType.get(callType)?.totals ?? emptyTotals());
  }

  callTypes(): string[] {
    return [...this.#byType.keys()];
  }

  /** The `token_usage_breakdown` JSONB value: one entry per call type that made a call. */
  breakdown(): Record<string, BreakdownEntry> {
    const errors = new Map<string, CallError[]>();
    for (const call of this.#calls) {
      if (call.status === "success") continue;
      const list = errors.get(call.callType) ?? [];
      list.push({
        attempt: call.attempt,
        type: call.errorType ?? call.status,
        message: call.errorMessage ?? "",
      });
      errors.set(call.callType, list);
    }
    const breakdown: Record<string, BreakdownEntry> = {};
    for (const [callType, { totals }] of this.#byType) {
      if (totals.calls === 0) continue;
      const entry: BreakdownEntry = {
        calls: totals.calls,
        successful_calls: totals.successfulCalls,
        failed_calls: totals.failedCalls,
        input_tokens: totals.inputTokens,
        output_tokens: totals.outputTokens,
        thinking_tokens: totals.thinkingTokens,
        cached_input_tokens: totals.cachedInputTokens,
        total_tokens: totals.totalTokens,
        duration_ms: totals.durationMs,
        cost_usd: totals.costPico === null ? null : picoToNumber(totals.costPico),
        modality_tokens: structuredClone(totals.modalityTokens),
        errors: (errors.get(callType) ?? []).sort((a, b) => a.attempt - b.attempt),
      };
      if (totals.batchCalls > 0) {
        entry.batch_calls = totals.batchCalls;
        entry.batch_saved_usd = picoToNumber(totals.batchSavedPico);
      }
      breakdown[callType] = entry;
    }
    for (const [callType, reuse] of this.#reused) {
      const entry = breakdown[callType] ?? emptyBreakdownEntry();
      entry.reused_from = reuse.fromAnalysisId;
      entry.tokens_saved = reuse.tokensSaved;
      entry.cost_saved_usd = reuse.costSavedPico === null ? null : picoToNumber(reuse.costSavedPico);
      breakdown[callType] = entry;
    }
    return breakdown;
  }
}
