import { CALL_TYPES, type CallType } from "../ledger/call-record.js";
import { type AnalysisRow, getAnalysis, TERMINAL_STATUSES } from "../store/analyses-repo.js";
import { type LlmCallRow, listCalls } from "../store/calls-repo.js";
import type { Sql } from "../store/database.js";

/** The last failed attempt of a stage: what the report names as the reason it is missing. */
export interface StageError {
  attempt: number;
  type: string;
  message: string;
}

/**
 * What became of one stage. `answered` has the text the pipeline used (its own successful
 * call, or the call of the analysis it was reused from); `lost` succeeded but its text is no
 * longer stored (retention dropped the partition, or a row written without it).
 */
export type StageOutcome =
  | { state: "answered"; text: string; reusedFrom: string | null }
  | { state: "lost"; reusedFrom: string | null }
  | { state: "failed"; lastError: StageError }
  | { state: "not_run"; reason: string };

export interface StageReport {
  callType: CallType;
  /** Attempts this analysis made (0 for a reused stage or one never run). */
  attempts: number;
  outcome: StageOutcome;
  /** Fingerprints of the inputs the stage was sent (llm_calls.input_hash), to check charts against. */
  inputHashes: string[];
}

/** Everything stored about an analysis that the report reads from the ledger. */
export interface AnalysisRecord {
  row: AnalysisRow;
  calls: LlmCallRow[];
  /** In pipeline order, all six. */
  stages: StageReport[];
}

/** The stored answer of a reused stage: the source analysis' successful call of that stage. */
interface SourceCall {
  output: string | null;
  input_hash: string | null;
}

async function sourceCall(sql: Sql, analysisId: string, callType: string): Promise<SourceCall | null> {
  const [row] = await sql<SourceCall[]>`
    SELECT output, input_hash FROM llm_calls
    WHERE analysis_id = ${analysisId} AND call_type = ${callType} AND status = 'success'
    ORDER BY (output IS NULL), attempt DESC
    LIMIT 1`;
  return row ?? null;
}

/** Why a stage with no call at all was not run, from the analysis' status and error. */
function notRunReason(row: AnalysisRow): string {
  if (!TERMINAL_STATUSES.has(row.status)) return `not run yet (the analysis is ${row.status})`;
  if (row.status === "budget_exceeded")
    return `not run: the spending cap was reached (${row.error ?? "cap"})`;
  if (row.error) return `not run: ${row.error}`;
  return "not run";
}

function lastError(attempts: LlmCallRow[]): StageError {
  const failed = attempts.filter((c) => c.status !== "success").at(-1) ?? attempts.at(-1);
  return {
    attempt: failed?.attempt ?? 0,
    // An interrupted attempt (a worker stopped mid-call) has no error type of its own.
    type: failed?.error_type ?? failed?.status ?? "unknown",
    message: failed?.error_message ?? (failed?.status === "interrupted" ? "the worker stopped mid-call" : ""),
  };
}

async function stageReport(
  sql: Sql,
  row: AnalysisRow,
  callType: CallType,
  calls: LlmCallRow[],
): Promise<StageReport> {
  const attempts = calls.filter((c) => c.call_type === callType).sort((a, b) => a.attempt - b.attempt);
  const inputHashes = [...new Set(attempts.flatMap((c) => (c.input_hash ? [c.input_hash] : [])))];
  const success = attempts.filter((c) => c.status === "success").at(-1);
  if (success) {
    const outcome: StageOutcome =
      success.output === null
        ? { state: "lost", reusedFrom: null }
        : { state: "answered", text: success.output, reusedFrom: null };
    return { callType, attempts: attempts.length, outcome, inputHashes };
  }
  // Answered from another analysis' identical call: no call of its own, the breakdown says whose.
  const reusedFrom = row.token_usage_breakdown[callType]?.reused_from;
  if (reusedFrom) {
    const source = await sourceCall(sql, reusedFrom, callType);
    if (source?.input_hash) inputHashes.push(source.input_hash);
    const outcome: StageOutcome =
      source?.output == null
        ? { state: "lost", reusedFrom }
        : { state: "answered", text: source.output, reusedFrom };
    return { callType, attempts: attempts.length, outcome, inputHashes };
  }
  if (attempts.length > 0) {
    return {
      callType,
      attempts: attempts.length,
      outcome: { state: "failed", lastError: lastError(attempts) },
      inputHashes,
    };
  }
  return { callType, attempts: 0, outcome: { state: "not_run", reason: notRunReason(row) }, inputHashes };
}

/** The analysis row, its calls and what became of each stage; null for an unknown id. */
export async function loadAnalysisRecord(sql: Sql, id: string): Promise<AnalysisRecord | null> {
  const row = await getAnalysis(sql, id);
  if (!row) return null;
  const calls = await listCalls(sql, id);
  const stages = await Promise.all(CALL_TYPES.map((callType) => stageReport(sql, row, callType, calls)));
  return { row, calls, stages };
}
