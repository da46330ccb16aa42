import type { CallStatus } from "../ledger/call-record.js";
import type { Sql } from "../store/database.js";

/** What the progress view needs of one `llm_calls` row: never the prompt's answer or raw usage. */
export interface CallFact {
  callType: string;
  attempt: number;
  status: CallStatus;
  errorType: string | null;
  totalTokens: number;
  /** Exact NUMERIC as stored; null when the call had no price. */
  costUsd: string | null;
}

/**
 * The calls written so far for these analyses, by analysis id. The ledger, not the job's
 * progress events, is what the view shows: every attempt's row is written (and committed)
 * as it starts and as it ends, so it is never late, throttled or lost. A few rows per
 * analysis, found through the primary key's leading column.
 */
export async function readCallFacts(sql: Sql, ids: string[]): Promise<Map<string, CallFact[]>> {
  const facts = new Map<string, CallFact[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return facts;
  const rows = await sql<(CallFact & { analysisId: string })[]>`
    SELECT analysis_id AS "analysisId", call_type AS "callType", attempt, status,
           error_type AS "errorType", total_tokens AS "totalTokens", cost_usd::text AS "costUsd"
    FROM llm_calls WHERE analysis_id = ANY(${ids})
    ORDER BY analysis_id, call_type, attempt`;
  for (const { analysisId, ...fact } of rows) facts.get(analysisId)?.push(fact);
  return facts;
}

/** A stage request out in a batch (or waiting for one), as the view shows it. */
export interface BatchFact {
  callType: string;
  attempt: number;
  /** "batches/…"; null while the request waits for its batch to be sent. */
  batchName: string | null;
  /** llm_batches.state; null while unsent. */
  state: string | null;
}

/** Batch-mode requests of these analyses whose answers are not in yet, by analysis id. */
export async function readBatchFacts(sql: Sql, ids: string[]): Promise<Map<string, BatchFact[]>> {
  const facts = new Map<string, BatchFact[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return facts;
  const rows = await sql<(BatchFact & { analysisId: string })[]>`
    SELECT r.analysis_id AS "analysisId", r.call_type AS "callType", r.attempt,
           b.name AS "batchName", b.state
    FROM llm_batch_requests r LEFT JOIN llm_batches b ON b.display_name = r.batch_display_name
    WHERE r.analysis_id = ANY(${ids}) AND b.ingested_at IS NULL`;
  for (const { analysisId, ...fact } of rows) facts.get(analysisId)?.push(fact);
  return facts;
}
