/**
 * The reference ledger designs for the ledger-overhead bench, run inside bench/baseline-worker.ts so they cost
 * what a ledger costs on top of the bare SDK and nothing else (BASELINE_LEDGER):
 * - "per-call": the straightforward ledger: a TokenTracker per analysis, one INSERT (its own
 *   commit) per call as it ends, one UPDATE of the analysis at the end;
 * - "grouped": the same, with the call rows group-committed across analyses by the product's
 *   own CallWriter (the straightforward batch: many rows in one INSERT, each write still awaited).
 * Neither has what stock-ledger adds to the same rows: the claim and lease, start markers,
 * retries, answer validation, reuse and cache checks, budgets, rollups, progress, logs and
 * metrics. Both write the product's own rows (schema, indexes, foreign key) from the product's
 * own records, so the difference from the baseline is the writes and the bookkeeping alone.
 */
import type { CallRecord } from "../../src/ledger/call-record.js";
import { picoToUsd } from "../../src/ledger/money.js";
import { priceCall } from "../../src/ledger/pricing.js";
import type { TokenTracker } from "../../src/ledger/token-tracker.js";
import { normalizeUsage } from "../../src/ledger/usage.js";
import { logger } from "../../src/logger.js";
import { CallWriter } from "../../src/store/call-writer.js";
import { callRowFromRecord, insertCalls } from "../../src/store/calls-repo.js";
import { createSql, type Sql } from "../../src/store/database.js";

export const REFERENCE_LEDGERS = ["per-call", "grouped"] as const;
export type ReferenceLedger = (typeof REFERENCE_LEDGERS)[number];

/** What one call's ledger entry is made from: the request's size and the provider's answer. */
export interface CallOutcome {
  callType: string;
  startedAt: Date;
  durationMs: number;
  inputChars: number;
  text: string;
  usageMetadata: Record<string, unknown> | undefined;
}

export class ReferenceLedgerWriter {
  readonly #sql: Sql;
  readonly #callWriter: CallWriter | null;

  constructor(
    databaseUrl: string,
    readonly design: ReferenceLedger,
    concurrency: number,
  ) {
    this.#sql = createSql(databaseUrl, { max: Math.min(10, concurrency) });
    this.#callWriter = design === "grouped" ? new CallWriter(this.#sql, logger) : null;
  }

  /** Records a successful call in the tracker and writes its row; resolves once it is committed. */
  async recordCall(tracker: TokenTracker, call: CallOutcome): Promise<void> {
    const usage = normalizeUsage(call.usageMetadata, {
      received: true,
      inputChars: call.inputChars,
      outputChars: call.text.length,
    });
    const record: CallRecord = {
      callType: call.callType,
      attempt: 1,
      model: tracker.model,
      status: "success",
      usage,
      cost: priceCall(tracker.model, usage, call.startedAt),
      errorType: null,
      errorMessage: null,
      startedAt: call.startedAt,
      durationMs: call.durationMs,
      inputChars: call.inputChars,
      outputChars: call.text.length,
      rawUsage: call.usageMetadata ?? null,
      inputHash: null,
    };
    tracker.recordCall(record);
    const row = callRowFromRecord(tracker.analysisId, record, call.text);
    if (this.#callWriter) await this.#callWriter.write(row);
    else await insertCalls(this.#sql, [row]);
  }

  /** One UPDATE with the analysis' totals, breakdown and decision. */
  async finalize(tracker: TokenTracker, decision: unknown): Promise<void> {
    const totals = tracker.totals();
    await this.#sql`
      UPDATE stock_analyses SET
        status = 'completed', completed_at = now(),
        total_input_tokens = ${totals.inputTokens}, total_output_tokens = ${totals.outputTokens},
        thinking_tokens = ${totals.thinkingTokens}, cached_input_tokens = ${totals.cachedInputTokens},
        total_tokens = ${totals.totalTokens}, llm_calls_count = ${totals.calls},
        failed_calls_count = ${totals.failedCalls},
        cost_usd = ${totals.costPico === null ? null : picoToUsd(totals.costPico)},
        token_usage_breakdown = ${this.#sql.json(tracker.breakdown() as never)},
        decision = ${this.#sql.json(decision as never)}
      WHERE id = ${tracker.analysisId}`;
  }

  async close(): Promise<void> {
    await this.#callWriter?.drain();
    await this.#sql.end({ timeout: 5 });
  }
}
