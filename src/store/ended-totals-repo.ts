import { TokenTracker } from "../ledger/token-tracker.js";
import { type AnalysisOutcome, type AnalysisRow, FINAL_COLUMNS, finalRecord } from "./analyses-repo.js";
import { type LlmCallRow, recordFromRow } from "./calls-repo.js";
import type { Sql } from "./database.js";
import { jsonRecordset } from "./json-recordset.js";
import { applyRollups } from "./rollups-repo.js";

/**
 * The columns an analysis' calls decide. Re-summing an ended analysis rewrites these and
 * leaves its status, decision, error, times and reuse savings as they were.
 */
const CALL_DECIDED = [
  "total_input_tokens",
  "total_output_tokens",
  "total_tokens",
  "llm_calls_count",
  "failed_calls_count",
  "thinking_tokens",
  "cached_input_tokens",
  "cost_usd",
  "batch_saved_usd",
  "token_usage_breakdown",
].filter((name) => FINAL_COLUMNS.some(([column]) => column === name));
const COLUMNS = FINAL_COLUMNS.filter(([name]) => name === "id" || CALL_DECIDED.includes(name));

/**
 * Same outcome record as finalize, but for analyses that have ended, and only where a figure
 * differs (jsonb compares by value), so an unchanged analysis is not rolled up again.
 */
const REWRITE = `
  UPDATE stock_analyses s SET ${CALL_DECIDED.map((name) => `${name} = o.${name}`).join(", ")}
  FROM ${jsonRecordset(COLUMNS, 1, "o")}
  WHERE s.id = ANY($2::text[]) AND s.id = o.id AND s.status IN ('completed', 'partial', 'failed', 'budget_exceeded')
    AND (${CALL_DECIDED.map((name) => `s.${name}`).join(", ")})
        IS DISTINCT FROM (${CALL_DECIDED.map((name) => `o.${name}`).join(", ")})
  RETURNING s.*`;

/**
 * The ledger of an analysis rebuilt from its stored calls, through the tracker a run uses, so
 * the figures are the ones a finalize would have written. Stages it answered by reuse (they
 * made no call) keep their entries.
 */
export function ledgerFromCalls(
  row: Pick<AnalysisRow, "id" | "ticker" | "model" | "token_usage_breakdown">,
  calls: readonly LlmCallRow[],
): Pick<AnalysisOutcome, "totals" | "breakdown"> {
  const tracker = new TokenTracker(row.id, row.ticker, row.model);
  for (const call of calls) tracker.recordCall(recordFromRow(call));
  const breakdown = tracker.breakdown();
  for (const [callType, entry] of Object.entries(row.token_usage_breakdown ?? {})) {
    if (entry.reused_from === undefined) continue;
    breakdown[callType] = {
      ...(breakdown[callType] ?? entry),
      reused_from: entry.reused_from,
      tokens_saved: entry.tokens_saved ?? 0,
      cost_saved_usd: entry.cost_saved_usd ?? null,
    };
  }
  return { totals: tracker.totals(), breakdown };
}

/**
 * Sums the calls of those of `ids` that have ended again and rewrites their totals and
 * breakdown where they changed, with their stats rollups, in one transaction. For calls
 * written after an analysis ended: a batch it shared with others is ingested after it was
 * cancelled. The rows are locked first, so a concurrent re-sum or finalize goes wholly
 * before or after, and the calls read are every one committed by then. Returns the rows
 * rewritten.
 */
export async function resumEndedAnalyses(sql: Sql, ids: readonly string[]): Promise<AnalysisRow[]> {
  if (ids.length === 0) return [];
  // In id order, as claims lock them: two lockers never wait on each other in a cycle.
  const sorted = [...new Set(ids)].sort();
  return sql.begin(async (tx) => {
    const ended = await tx<AnalysisRow[]>`
      SELECT * FROM stock_analyses
      WHERE id = ANY(${sorted}) AND status IN ('completed', 'partial', 'failed', 'budget_exceeded')
      ORDER BY id FOR UPDATE`;
    if (ended.length === 0) return [];
    const calls = await tx<LlmCallRow[]>`
      SELECT * FROM llm_calls WHERE analysis_id = ANY(${ended.map((row) => row.id)})
      ORDER BY started_at, call_type, attempt`;
    const outcomes = ended.map((row): AnalysisOutcome => {
      const { totals, breakdown } = ledgerFromCalls(
        row,
        calls.filter((call) => call.analysis_id === row.id),
      );
      return {
        id: row.id,
        leaseOwner: null,
        status: row.status,
        totals,
        breakdown,
        decision: row.decision,
        error: row.error,
        marketDataSource: row.market_data_source,
      };
    });
    const rewritten = await tx.unsafe<AnalysisRow[]>(
      REWRITE,
      [JSON.stringify(outcomes.map(finalRecord)), outcomes.map((o) => o.id)] as never[],
      { prepare: true },
    );
    // Rolled up before with its old calls: its days are re-derived (or it is still pending).
    for (const row of rewritten) await applyRollups(tx, row.id);
    return [...rewritten];
  });
}
