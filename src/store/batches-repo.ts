import type { BatchState } from "../llm/gemini-batches.js";
import { insertCalls, type LlmCallRow } from "./calls-repo.js";
import type { Sql, TransactionSql } from "./database.js";

type Db = Sql | TransactionSql;

/** Our side of a batch: 'creating' until the provider has answered create. */
export type StoredBatchState = "creating" | BatchState;

/** An `llm_batches` row. */
export interface BatchRow {
  display_name: string;
  name: string | null;
  model: string;
  state: StoredBatchState;
  request_count: number;
  request_bytes: string;
  created_at: Date;
  submitted_at: Date | null;
  ended_at: Date | null;
  ingested_at: Date | null;
  polls: number;
  next_poll_at: Date;
  /** Set while a worker polls the batch. */
  poll_claimed_until: Date | null;
  error: string | null;
}

/** An `llm_batch_requests` row. */
export interface BatchRequestRow {
  analysis_id: string;
  call_type: string;
  attempt: number;
  model: string;
  batch_display_name: string | null;
  request: Record<string, unknown> | null;
  request_bytes: number;
  input_chars: number;
  input_hash: string | null;
  reserved_tokens: number | null;
  queued_at: Date;
}

export type QueuedBatchRequest = Omit<BatchRequestRow, "batch_display_name" | "queued_at">;

/** Every column of a request but its GenerateContentRequest body (up to megabytes with charts). */
const WITHOUT_BODY = [
  "analysis_id",
  "call_type",
  "attempt",
  "model",
  "batch_display_name",
  "request_bytes",
  "input_chars",
  "input_hash",
  "reserved_tokens",
  "queued_at",
] as const;

/** Puts stage requests in line for the next batch of their model. Idempotent per attempt. */
export async function queueBatchRequests(sql: Db, requests: readonly QueuedBatchRequest[]): Promise<void> {
  if (requests.length === 0) return;
  await sql`
    INSERT INTO llm_batch_requests
      (analysis_id, call_type, attempt, model, request, request_bytes, input_chars, input_hash, reserved_tokens)
    SELECT * FROM jsonb_to_recordset(${sql.json(requests as never)}::jsonb) AS r (
      analysis_id text, call_type text, attempt int, model text, request jsonb, request_bytes int,
      input_chars int, input_hash text, reserved_tokens int)
    ON CONFLICT DO NOTHING`;
}

/** This analysis' requests whose responses are not in yet, each with its batch (null: not sent yet). */
export interface InFlightRequest {
  call_type: string;
  attempt: number;
  model: string;
  queued_at: Date;
  batch: BatchRow | null;
}

export async function inFlightRequests(sql: Db, analysisId: string): Promise<InFlightRequest[]> {
  const rows = await sql<(BatchRequestRow & { b: BatchRow | null })[]>`
    SELECT r.call_type, r.attempt, r.model, r.queued_at, to_jsonb(b) AS b
    FROM llm_batch_requests r LEFT JOIN llm_batches b ON b.display_name = r.batch_display_name
    WHERE r.analysis_id = ${analysisId} AND (b.display_name IS NULL OR b.ingested_at IS NULL)
    ORDER BY r.queued_at`;
  return rows.map((row) => ({
    call_type: row.call_type,
    attempt: row.attempt,
    model: row.model,
    queued_at: row.queued_at,
    batch: row.b ? batchFromJson(row.b) : null,
  }));
}

/** A batch row read through to_jsonb: timestamps come back as strings. */
function batchFromJson(raw: BatchRow): BatchRow {
  const date = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string));
  return {
    ...raw,
    created_at: date(raw.created_at) as Date,
    submitted_at: date(raw.submitted_at),
    ended_at: date(raw.ended_at),
    ingested_at: date(raw.ingested_at),
    next_poll_at: date(raw.next_poll_at) as Date,
    poll_claimed_until: date(raw.poll_claimed_until),
  };
}

/**
 * Takes every request of `model` waiting for a batch (locked, so two submitters never take the
 * same one) and records the batches they go in, in state 'creating', in one transaction: the
 * display names are stored before anything is sent. `split` groups the requests by size. The
 * requests come back without their bodies (batchRequestsOf reads them).
 */
export async function assignWaitingRequests(
  sql: Sql,
  model: string,
  split: (requests: BatchRequestRow[]) => { displayName: string; requests: BatchRequestRow[] }[],
): Promise<{ batch: BatchRow; requests: BatchRequestRow[] }[]> {
  return sql.begin(async (tx) => {
    // Without the bodies: a batch's are read when it is sent, so at most one batch is in memory.
    const waiting = await tx<BatchRequestRow[]>`
      SELECT ${tx(WITHOUT_BODY)}, NULL::jsonb AS request FROM llm_batch_requests
      WHERE model = ${model} AND batch_display_name IS NULL
      ORDER BY queued_at, analysis_id, call_type
      FOR UPDATE SKIP LOCKED`;
    const created: { batch: BatchRow; requests: BatchRequestRow[] }[] = [];
    for (const group of split(waiting)) {
      const bytes = group.requests.reduce((sum, r) => sum + r.request_bytes, 0);
      const [batch] = await tx<BatchRow[]>`
        INSERT INTO llm_batches (display_name, model, request_count, request_bytes)
        VALUES (${group.displayName}, ${model}, ${group.requests.length}, ${bytes})
        RETURNING *`;
      await tx`
        UPDATE llm_batch_requests SET batch_display_name = ${group.displayName}
        FROM unnest(${group.requests.map((r) => r.analysis_id)}::text[],
                    ${group.requests.map((r) => r.call_type)}::text[],
                    ${group.requests.map((r) => r.attempt)}::int[]) AS k (analysis_id, call_type, attempt)
        WHERE llm_batch_requests.analysis_id = k.analysis_id
          AND llm_batch_requests.call_type = k.call_type AND llm_batch_requests.attempt = k.attempt`;
      created.push({ batch: batch as BatchRow, requests: group.requests });
    }
    return created;
  });
}

/** A batch's requests; with `bodies: false` their `request` is null (what ingesting them needs). */
export async function batchRequestsOf(
  sql: Db,
  displayName: string,
  options: { bodies: boolean } = { bodies: true },
): Promise<BatchRequestRow[]> {
  const columns = options.bodies ? sql`*` : sql`${sql(WITHOUT_BODY)}, NULL::jsonb AS request`;
  return sql<BatchRequestRow[]>`
    SELECT ${columns} FROM llm_batch_requests WHERE batch_display_name = ${displayName}
    ORDER BY analysis_id, call_type, attempt`;
}

export async function getBatch(sql: Db, displayName: string): Promise<BatchRow | null> {
  const [row] = await sql<BatchRow[]>`SELECT * FROM llm_batches WHERE display_name = ${displayName}`;
  return row ?? null;
}

/** What the provider said of the batch (its name once created, its state and times). */
export async function updateBatch(
  sql: Db,
  displayName: string,
  fields: {
    name?: string;
    state: StoredBatchState;
    submittedAt?: Date | null;
    endedAt?: Date | null;
    nextPollAt?: Date;
    error?: string | null;
  },
): Promise<void> {
  await sql`
    UPDATE llm_batches SET
      name = COALESCE(${fields.name ?? null}, name),
      state = ${fields.state},
      submitted_at = COALESCE(${fields.submittedAt ?? null}, submitted_at),
      ended_at = COALESCE(${fields.endedAt ?? null}, ended_at),
      next_poll_at = COALESCE(${fields.nextPollAt ?? null}, next_poll_at),
      poll_claimed_until = NULL,
      error = COALESCE(${fields.error ?? null}, error)
    WHERE display_name = ${displayName}`;
}

/**
 * Claims the batch's next poll: one worker at a time asks the provider about a batch. Returns
 * the row when this caller won (its poll was due and nobody else holds a claim), with `polls`
 * counting this one; the claim lapses after `holdMs` if its poller dies.
 */
export async function claimBatchPoll(sql: Db, displayName: string, holdMs: number): Promise<BatchRow | null> {
  const [row] = await sql<BatchRow[]>`
    UPDATE llm_batches SET polls = polls + 1,
      poll_claimed_until = now() + ${holdMs} * interval '1 millisecond'
    WHERE display_name = ${displayName} AND ingested_at IS NULL AND next_poll_at <= now()
      AND (poll_claimed_until IS NULL OR poll_claimed_until < now())
    RETURNING *`;
  return row ?? null;
}

/**
 * Writes a finished batch's call rows, drops its requests' bodies and daily-budget holds, and
 * marks it ingested, in one transaction; a batch already ingested is left alone (false).
 */
export async function ingestBatch(
  sql: Sql,
  displayName: string,
  outcome: { state: StoredBatchState; endedAt: Date | null; error: string | null; rows: LlmCallRow[] },
): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [batch] = await tx<{ ingested_at: Date | null }[]>`
      SELECT ingested_at FROM llm_batches WHERE display_name = ${displayName} FOR UPDATE`;
    if (!batch || batch.ingested_at !== null) return false;
    await insertCalls(tx, outcome.rows);
    await tx`
      DELETE FROM spend_reservations s USING llm_batch_requests r
      WHERE r.batch_display_name = ${displayName} AND s.analysis_id = r.analysis_id
        AND s.call_type = r.call_type AND s.attempt = r.attempt`;
    await tx`UPDATE llm_batch_requests SET request = NULL WHERE batch_display_name = ${displayName}`;
    await tx`
      UPDATE llm_batches SET state = ${outcome.state}, ended_at = COALESCE(${outcome.endedAt}, now()),
        ingested_at = now(), error = ${outcome.error}
      WHERE display_name = ${displayName}`;
    return true;
  });
}

/** The analyses a batch answers (to wake their jobs once it is ingested). */
export async function analysesOfBatch(sql: Db, displayName: string): Promise<string[]> {
  const rows = await sql<{ analysis_id: string }[]>`
    SELECT DISTINCT analysis_id FROM llm_batch_requests WHERE batch_display_name = ${displayName}`;
  return rows.map((row) => row.analysis_id);
}

/** What `withdrawAnalysisRequests` took back. */
export interface WithdrawnRequests {
  /** Requests not sent yet, deleted with their daily-budget holds. */
  withdrawn: number;
  /** The batches its sent requests are in that no other analysis shares and that have not ended. */
  soleBatches: BatchRow[];
}

/**
 * Withdraws an analysis' requests not sent yet (and their daily-budget holds), and finds the
 * batches its sent requests are in that no other analysis shares and that have not ended (for
 * `cancel`). A request a submitter is taking into a batch right now is not withdrawn: it is in
 * that batch once the submitter commits.
 */
export async function withdrawAnalysisRequests(sql: Db, analysisId: string): Promise<WithdrawnRequests> {
  const [deleted] = await sql<{ n: number }[]>`
    WITH withdrawn AS (
      DELETE FROM llm_batch_requests WHERE analysis_id = ${analysisId} AND batch_display_name IS NULL
      RETURNING call_type, attempt
    ), released AS (
      DELETE FROM spend_reservations s USING withdrawn w
      WHERE s.analysis_id = ${analysisId} AND s.call_type = w.call_type AND s.attempt = w.attempt
    )
    SELECT count(*)::int AS n FROM withdrawn`;
  const soleBatches = await sql<BatchRow[]>`
    SELECT b.* FROM llm_batches b
    WHERE b.ingested_at IS NULL AND b.state IN ('creating', 'pending', 'running')
      AND EXISTS (SELECT 1 FROM llm_batch_requests r
                  WHERE r.batch_display_name = b.display_name AND r.analysis_id = ${analysisId})
      AND NOT EXISTS (SELECT 1 FROM llm_batch_requests r
                      WHERE r.batch_display_name = b.display_name AND r.analysis_id <> ${analysisId})
    ORDER BY b.created_at`;
  return { withdrawn: deleted?.n ?? 0, soleBatches };
}

/** Makes a batch's next poll due now (a batch just cancelled is read back at once). */
export async function pollBatchNow(sql: Db, displayName: string): Promise<void> {
  await sql`
    UPDATE llm_batches SET next_poll_at = now() WHERE display_name = ${displayName} AND ingested_at IS NULL`;
}

/** Batches not ingested whose next poll is overdue by `overdueMs` (no job is polling them). */
export async function overdueBatches(sql: Db, overdueMs: number): Promise<string[]> {
  const rows = await sql<{ display_name: string }[]>`
    SELECT display_name FROM llm_batches
    WHERE ingested_at IS NULL AND next_poll_at < now() - ${overdueMs} * interval '1 millisecond'
      AND (poll_claimed_until IS NULL OR poll_claimed_until < now())
    ORDER BY next_poll_at LIMIT 100`;
  return rows.map((row) => row.display_name);
}
