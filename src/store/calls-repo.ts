import type { CallRecord, CallStatus } from "../ledger/call-record.js";
import { picoToUsd, usdToPico } from "../ledger/money.js";
import type { PriceTier, ServiceTier } from "../ledger/pricing.js";
import type { UsageSource } from "../ledger/usage.js";
import type { Sql, TransactionSql } from "./database.js";
import { jsonRecordset, type RecordsetColumns } from "./json-recordset.js";

/** An `llm_calls` row as stored (column names kept, so `show --json` prints them as is). */
export interface LlmCallRow {
  analysis_id: string;
  call_type: string;
  attempt: number;
  model: string;
  status: CallStatus;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  total_tokens: number;
  usage_source: UsageSource;
  error_type: string | null;
  error_message: string | null;
  started_at: Date;
  duration_ms: number | null;
  cost_usd: string | null;
  price_version: string | null;
  price_tier: string | null;
  input_chars: number;
  output_chars: number;
  raw_usage: unknown;
  modality_tokens: { input: Record<string, number>; output: Record<string, number> };
  output: string | null;
  input_hash: string | null;
  reserved_tokens: number | null;
  service_tier: ServiceTier;
  /** What the Batch API saved against the standard rates; NULL on standard calls (sql/015). */
  batch_saved_usd: string | null;
}

export function callRowFromRecord(analysisId: string, call: CallRecord, output: string | null): LlmCallRow {
  const { usage, cost } = call;
  return {
    analysis_id: analysisId,
    call_type: call.callType,
    attempt: call.attempt,
    model: call.model,
    status: call.status,
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    thinking_tokens: usage.thinkingTokens,
    cached_input_tokens: usage.cachedInputTokens,
    total_tokens: usage.totalTokens,
    usage_source: usage.usageSource,
    error_type: call.errorType,
    error_message: call.errorMessage,
    started_at: call.startedAt,
    duration_ms: call.durationMs,
    cost_usd: cost.costPico === null ? null : picoToUsd(cost.costPico),
    price_version: cost.priceVersion,
    price_tier: cost.priceTier,
    input_chars: call.inputChars,
    output_chars: call.outputChars,
    raw_usage: call.rawUsage ?? null,
    input_hash: call.inputHash,
    modality_tokens: usage.modalityTokens,
    output,
    reserved_tokens: call.reservedTokens ?? null,
    service_tier: call.serviceTier ?? "standard",
    batch_saved_usd: call.batchSavedPico == null ? null : picoToUsd(call.batchSavedPico),
  };
}

/** Rebuilds the ledger's record from a stored row (a resumed job re-reads what it already paid for). */
export function recordFromRow(row: LlmCallRow): CallRecord {
  const input = row.input_tokens;
  const output = row.output_tokens;
  return {
    callType: row.call_type,
    attempt: row.attempt,
    model: row.model,
    status: row.status,
    usage: {
      inputTokens: input,
      outputTokens: output,
      thinkingTokens: row.thinking_tokens,
      cachedInputTokens: row.cached_input_tokens,
      totalTokens: row.total_tokens,
      usageSource: row.usage_source,
      modalityTokens: row.modality_tokens,
      totalMismatch: row.total_tokens !== input + output,
    },
    cost: {
      costPico: row.cost_usd === null ? null : usdToPico(row.cost_usd),
      priceVersion: row.price_version,
      priceTier: row.price_tier as PriceTier | null,
    },
    errorType: row.error_type,
    errorMessage: row.error_message,
    startedAt: row.started_at,
    durationMs: row.duration_ms ?? 0,
    inputChars: row.input_chars,
    outputChars: row.output_chars,
    rawUsage: row.raw_usage,
    inputHash: row.input_hash,
    reservedTokens: row.reserved_tokens,
    serviceTier: row.service_tier,
    batchSavedPico: row.batch_saved_usd == null ? null : usdToPico(row.batch_saved_usd),
  };
}

/** Every column of a call row with its SQL type, as `json_to_recordset` reads them. */
const CALL_COLUMNS: RecordsetColumns = [
  ["analysis_id", "text"],
  ["call_type", "text"],
  ["attempt", "int"],
  ["model", "text"],
  ["status", "text"],
  ["input_tokens", "int"],
  ["output_tokens", "int"],
  ["thinking_tokens", "int"],
  ["cached_input_tokens", "int"],
  ["total_tokens", "int"],
  ["usage_source", "text"],
  ["error_type", "text"],
  ["error_message", "text"],
  ["started_at", "timestamptz"],
  ["duration_ms", "int"],
  ["cost_usd", "numeric"],
  ["price_version", "text"],
  ["price_tier", "text"],
  ["input_chars", "int"],
  ["output_chars", "int"],
  ["raw_usage", "jsonb"],
  ["modality_tokens", "jsonb"],
  ["output", "text"],
  ["input_hash", "text"],
  ["reserved_tokens", "int"],
  ["service_tier", "text"],
  ["batch_saved_usd", "numeric"],
];

const names = CALL_COLUMNS.map(([name]) => name).join(", ");
const updates = CALL_COLUMNS.filter(
  ([name]) => !["analysis_id", "call_type", "attempt", "started_at", "model"].includes(name),
)
  .map(([name]) => `${name} = EXCLUDED.${name}`)
  .join(", ");

/** One statement text for any number of rows, sent as one JSON parameter (json-recordset.ts). */
const INSERT_CALLS = `
  INSERT INTO llm_calls (${names})
  SELECT ${names} FROM ${jsonRecordset(CALL_COLUMNS, 1, "t")}
  ON CONFLICT (analysis_id, call_type, attempt, started_at) DO UPDATE SET ${updates}
  WHERE llm_calls.status = 'interrupted'`;

/**
 * Writes attempts, many rows in one statement. Idempotent on (analysis_id, call_type,
 * attempt) — with started_at, which a call's start marker and closing row share: only a row
 * still `interrupted` (a start marker, or a call cut off by a crash) may be overwritten, so a
 * finished call is never counted twice.
 */
export async function insertCalls(sql: Sql | TransactionSql, rows: LlmCallRow[]): Promise<void> {
  if (rows.length === 0) return;
  // A row's fields are named as its columns: the rows serialise as they are (dates as ISO).
  await sql.unsafe(INSERT_CALLS, [JSON.stringify(rows)], { prepare: true });
}

export async function listCalls(sql: Sql, analysisId: string): Promise<LlmCallRow[]> {
  return sql<LlmCallRow[]>`
    SELECT * FROM llm_calls WHERE analysis_id = ${analysisId}
    ORDER BY started_at, call_type, attempt`;
}

/** Answer sizes of a stage's recent successful calls of a model: median and 95th percentile. */
export interface StageHistory {
  callType: string;
  calls: number;
  outputTokens: { p50: number; p95: number };
  thinkingTokens: { p50: number; p95: number };
  /** Median characters of the answer (the final prompt quotes the five answers). */
  outputChars: number;
}

/** Per stage, over the newest successful calls of a model (for estimates). */
export async function recentStageHistory(sql: Sql, model: string): Promise<Map<string, StageHistory>> {
  const rows = await sql<
    {
      call_type: string;
      calls: number;
      out50: number;
      out95: number;
      think50: number;
      think95: number;
      chars: number;
    }[]
  >`
    SELECT call_type, count(*)::int AS calls,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY output_tokens)::float AS out50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY output_tokens)::float AS out95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY thinking_tokens)::float AS think50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY thinking_tokens)::float AS think95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY output_chars)::float AS chars
    FROM (SELECT call_type, output_tokens, thinking_tokens, output_chars FROM llm_calls
          WHERE model = ${model} AND status = 'success'
          ORDER BY started_at DESC LIMIT 3000) recent
    GROUP BY call_type`;
  return new Map(
    rows.map((r) => [
      r.call_type,
      {
        callType: r.call_type,
        calls: r.calls,
        outputTokens: { p50: Math.round(r.out50), p95: Math.round(r.out95) },
        thinkingTokens: { p50: Math.round(r.think50), p95: Math.round(r.think95) },
        outputChars: Math.round(r.chars),
      },
    ]),
  );
}

export interface ReusableAnswer {
  analysis_id: string;
  output: string;
  total_tokens: number;
  cost_usd: string | null;
}

/** The newest successful answer to exactly this input from another analysis, if recent enough. */
export async function findReusableAnswer(
  sql: Sql,
  query: { inputHash: string; excludeAnalysisId: string; maxAgeSeconds: number },
): Promise<ReusableAnswer | null> {
  const [row] = await sql<ReusableAnswer[]>`
    SELECT analysis_id, output, total_tokens, cost_usd FROM llm_calls
    WHERE input_hash = ${query.inputHash} AND status = 'success' AND output IS NOT NULL
      AND analysis_id <> ${query.excludeAnalysisId}
      AND started_at > now() - ${query.maxAgeSeconds} * interval '1 second'
    ORDER BY started_at DESC
    LIMIT 1`;
  return row ?? null;
}
