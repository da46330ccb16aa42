import { picoToUsd } from "../ledger/money.js";
import type { BreakdownEntry, SavedTotals, TokenTotals } from "../ledger/token-tracker.js";
import type { Sql, TransactionSql } from "./database.js";
import { jsonRecordset } from "./json-recordset.js";

export const ANALYSIS_STATUSES = [
  "queued",
  "running",
  "completed",
  "partial",
  "failed",
  "budget_exceeded",
] as const;
export type AnalysisStatus = (typeof ANALYSIS_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<AnalysisStatus> = new Set([
  "completed",
  "partial",
  "failed",
  "budget_exceeded",
]);

/** A `stock_analyses` row as stored; column names kept for `show --json` and `list --json`. */
export interface AnalysisRow {
  id: string;
  ticker: string;
  status: AnalysisStatus;
  model: string;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  duration_ms: number | null;
  total_input_tokens: number;
  total_output_tokens: number;
  total_tokens: number;
  llm_calls_count: number;
  token_usage_breakdown: Record<string, BreakdownEntry>;
  thinking_tokens: number;
  cached_input_tokens: number;
  failed_calls_count: number;
  cost_usd: string | null;
  decision: Record<string, unknown> | null;
  error: string | null;
  tokens_saved: number;
  cost_saved_usd: string;
  market_data_source: string | null;
  runs: number;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  max_tokens: number | null;
  reuse: boolean;
  data_hash: string | null;
  context_cache: boolean;
  max_cost_usd: string | null;
  batch: boolean;
  batch_fallback: "none" | "sync";
  /** What its batch calls saved against the standard rates (sql/015). */
  batch_saved_usd: string;
}

type Db = Sql | TransactionSql;

/** Inserts a queued analysis; an existing id is left as it is and returned with `created: false`. */
export async function insertQueuedAnalysis(
  sql: Db,
  input: {
    id: string;
    ticker: string;
    model: string;
    maxTokens?: number | null;
    maxCostUsd?: string | null;
    reuse?: boolean;
    contextCache?: boolean;
    batch?: boolean;
    batchFallback?: "none" | "sync";
  },
): Promise<{ created: boolean; row: AnalysisRow }> {
  const [inserted] = await sql<AnalysisRow[]>`
    INSERT INTO stock_analyses
      (id, ticker, model, status, max_tokens, max_cost_usd, reuse, context_cache, batch, batch_fallback)
    VALUES (${input.id}, ${input.ticker}, ${input.model}, 'queued', ${input.maxTokens ?? null},
            ${input.maxCostUsd ?? null}, ${input.reuse ?? false}, ${input.contextCache ?? false},
            ${input.batch ?? false}, ${input.batchFallback ?? "none"})
    ON CONFLICT (id) DO NOTHING
    RETURNING *`;
  if (inserted) return { created: true, row: inserted };
  const existing = await getAnalysis(sql, input.id);
  if (!existing) throw new Error(`analysis ${input.id} vanished during enqueue`);
  return { created: false, row: existing };
}

export type RunClaim =
  | { kind: "claimed"; row: AnalysisRow }
  | { kind: "ended"; row: AnalysisRow }
  | { kind: "busy"; leaseExpiresAt: Date }
  | { kind: "missing" };

export interface RunClaimRequest {
  id: string;
  owner: string;
  leaseMs: number;
}

/**
 * Claims the next run of many analyses in one statement (the worker's claim batches), each for
 * its owner under a lease of its leaseMs: only one run holds an analysis' lease at a time, and
 * an ended analysis is never run again. Returns, per request, the claimed row or null (busy,
 * ended or unknown: `unclaimedReason` tells which); of two requests for one analysis, one wins.
 */
export async function claimAnalysisRuns(
  sql: Db,
  requests: RunClaimRequest[],
): Promise<(AnalysisRow | null)[]> {
  if (requests.length === 0) return [];
  // Rows are locked in this order: in id order, two workers' batches cannot deadlock.
  const ordered = [...requests].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rows = await sql<AnalysisRow[]>`
    UPDATE stock_analyses s
    -- A batch-mode analysis comes back once per phase after releasing its lease: that is one
    -- run going on, not a restart, so only a run after a crash or a lost lease counts.
    SET status = 'running', started_at = COALESCE(s.started_at, now()),
        runs = s.runs + CASE WHEN s.batch AND s.status = 'running' AND s.lease_owner IS NULL THEN 0 ELSE 1 END,
        lease_owner = c.owner, lease_expires_at = now() + c.lease_ms * interval '1 millisecond'
    FROM unnest(${ordered.map((r) => r.id)}::text[], ${ordered.map((r) => r.owner)}::text[],
                ${ordered.map((r) => r.leaseMs)}::int[]) AS c (id, owner, lease_ms)
    -- "Not ended" rather than IN ('queued', 'running'): the same rows (status has a CHECK), but
    -- not matchable by the status index, so the plan stays one primary-key lookup per id and
    -- never becomes a scan of every queued analysis (what a generic plan picks with a backlog).
    WHERE s.id = c.id AND s.status NOT IN ('completed', 'partial', 'failed', 'budget_exceeded')
      AND (s.lease_expires_at IS NULL OR s.lease_expires_at < now() OR s.lease_owner = c.owner)
    RETURNING s.*`;
  const claimed = new Map(rows.map((row) => [row.id, row]));
  return requests.map((r) => {
    const row = claimed.get(r.id);
    return row && row.lease_owner === r.owner ? row : null;
  });
}

/** Why a claim came back empty: the analysis has ended, another run holds it, or it is unknown. */
export async function unclaimedReason(sql: Db, id: string): Promise<Exclude<RunClaim, { kind: "claimed" }>> {
  const current = await getAnalysis(sql, id);
  if (!current) return { kind: "missing" };
  if (TERMINAL_STATUSES.has(current.status)) return { kind: "ended", row: current };
  return { kind: "busy", leaseExpiresAt: current.lease_expires_at ?? new Date() };
}

/** Extends the lease while the run is alive; false when another run has taken it over. */
export async function renewAnalysisLease(
  sql: Db,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  const rows = await sql`
    UPDATE stock_analyses SET lease_expires_at = now() + ${leaseMs} * interval '1 millisecond'
    WHERE id = ${id} AND lease_owner = ${owner} AND status = 'running'
    RETURNING id`;
  return rows.length > 0;
}

/** Gives the lease up early (the run stopped without finishing), so the next run need not wait it out. */
export async function releaseAnalysisLease(sql: Db, id: string, owner: string): Promise<void> {
  await sql`
    UPDATE stock_analyses SET lease_owner = NULL, lease_expires_at = NULL
    WHERE id = ${id} AND lease_owner = ${owner}`;
}

export interface AnalysisOutcome {
  id: string;
  /** The run's lease owner; null to end an analysis whose runs have all stopped (lease free or expired). */
  leaseOwner: string | null;
  status: AnalysisStatus;
  totals: TokenTotals;
  /** What reused stages saved; absent when none were reused. */
  saved?: SavedTotals | undefined;
  breakdown: Record<string, BreakdownEntry>;
  decision: unknown;
  error: string | null;
  marketDataSource: string | null;
  dataHash?: string | null | undefined;
}

/** Every finalized column, its SQL type, and its value in an outcome. */
export const FINAL_COLUMNS: readonly (readonly [string, string, (o: AnalysisOutcome) => unknown])[] = [
  ["id", "text", (o) => o.id],
  ["lease_owner", "text", (o) => o.leaseOwner ?? ""],
  ["status", "text", (o) => o.status],
  ["total_input_tokens", "int", (o) => o.totals.inputTokens],
  ["total_output_tokens", "int", (o) => o.totals.outputTokens],
  ["total_tokens", "int", (o) => o.totals.totalTokens],
  ["llm_calls_count", "int", (o) => o.totals.calls],
  ["failed_calls_count", "int", (o) => o.totals.failedCalls],
  ["thinking_tokens", "bigint", (o) => o.totals.thinkingTokens],
  ["cached_input_tokens", "bigint", (o) => o.totals.cachedInputTokens],
  ["cost_usd", "numeric", (o) => (o.totals.costPico === null ? null : picoToUsd(o.totals.costPico))],
  ["tokens_saved", "bigint", (o) => o.saved?.tokensSaved ?? 0],
  [
    "cost_saved_usd",
    "numeric",
    (o) => (o.saved?.costSavedPico == null ? "0" : picoToUsd(o.saved.costSavedPico)),
  ],
  ["batch_saved_usd", "numeric", (o) => picoToUsd(o.totals.batchSavedPico)],
  ["token_usage_breakdown", "jsonb", (o) => o.breakdown],
  ["decision", "jsonb", (o) => o.decision ?? null],
  ["error", "text", (o) => o.error],
  ["market_data_source", "text", (o) => o.marketDataSource],
  ["data_hash", "text", (o) => o.dataHash ?? null],
];

/** Columns the outcome sets as they are (the run's id and lease, and the kept-if-unknown data source, are not). */
const ASSIGNED = FINAL_COLUMNS.map(([name]) => name).filter(
  (name) => !["id", "lease_owner", "market_data_source", "data_hash"].includes(name),
);

/** An outcome as its `json_to_recordset` row. */
export const finalRecord = (o: AnalysisOutcome) =>
  Object.fromEntries(FINAL_COLUMNS.map(([name, , field]) => [name, field(o)]));

/**
 * One statement for any number of analyses (sent as one JSON parameter: json-recordset.ts), so
 * it is prepared once. It updates only unfinished analyses whose lease is the run's (or free),
 * and in the same statement marks each for the stats rollups (sql/010: pending until folded),
 * so the stats never disagree with the analysis and its calls. An analysis marked before
 * (never by a finalize: only an unfinished analysis is updated) goes through
 * stats_apply_analysis, which re-derives what an earlier fold added.
 */
const FINALIZE = `
  WITH finalized AS (
    UPDATE stock_analyses s SET
      completed_at = now(),
      duration_ms = GREATEST(0, ROUND(EXTRACT(EPOCH FROM (now() - COALESCE(s.started_at, s.created_at))) * 1000))::int,
      ${ASSIGNED.map((name) => `${name} = o.${name}`).join(", ")},
      market_data_source = COALESCE(o.market_data_source, s.market_data_source),
      data_hash = COALESCE(o.data_hash, s.data_hash),
      lease_owner = NULL,
      lease_expires_at = NULL
    FROM ${jsonRecordset(FINAL_COLUMNS, 1, "o")}
    -- The ids again, as an array: json_to_recordset's row estimate (100) would otherwise make
    -- the plan a scan of every unfinished analysis; by ANY($2) it reads them by primary key.
    -- Not ended: see claimAnalysisRuns.
    WHERE s.id = ANY($2::text[]) AND s.id = o.id AND s.status NOT IN ('completed', 'partial', 'failed', 'budget_exceeded')
      AND (s.lease_owner = o.lease_owner OR s.lease_expires_at IS NULL OR s.lease_expires_at < now())
    RETURNING s.*
  ), marked AS (
    INSERT INTO stats_rollup_marks (analysis_id, day)
    SELECT id, (COALESCE(started_at, created_at) AT TIME ZONE 'UTC')::date FROM finalized
    ON CONFLICT (analysis_id) DO NOTHING
    RETURNING analysis_id
  ), pending AS (
    INSERT INTO stats_rollup_pending (analysis_id) SELECT analysis_id FROM marked
    ON CONFLICT (analysis_id) DO NOTHING
  )
  SELECT f.*, CASE WHEN m.analysis_id IS NULL THEN stats_apply_analysis(f.id) ELSE 'added' END AS rollup
  FROM finalized f LEFT JOIN marked m ON m.analysis_id = f.id`;

/**
 * Writes the final totals and breakdown of many analyses in one statement (the worker's
 * finalize batches), once each: per outcome, the finalized row, or null when another run owns
 * the analysis or it has already ended. Two outcomes for one analysis must not share a call.
 */
export async function finalizeAnalyses(
  sql: Db,
  outcomes: AnalysisOutcome[],
): Promise<(AnalysisRow | null)[]> {
  if (outcomes.length === 0) return [];
  const rows = await sql.unsafe<(AnalysisRow & { rollup: string })[]>(
    FINALIZE,
    [JSON.stringify(outcomes.map(finalRecord)), outcomes.map((o) => o.id)] as never[],
    { prepare: true },
  );
  const finalized = new Map(rows.map(({ rollup: _, ...row }) => [row.id, row as AnalysisRow]));
  return outcomes.map((o) => finalized.get(o.id) ?? null);
}

/** Finalizes one analysis (see finalizeAnalyses); null when another run owns it or it has ended. */
export async function finalizeAnalysis(sql: Db, outcome: AnalysisOutcome): Promise<AnalysisRow | null> {
  return (await finalizeAnalyses(sql, [outcome]))[0] ?? null;
}

export async function getAnalysis(sql: Db, id: string): Promise<AnalysisRow | null> {
  const [row] = await sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ${id}`;
  return row ?? null;
}

export interface AnalysisFilter {
  ticker?: string | undefined;
  status?: AnalysisStatus | undefined;
  since?: Date | undefined;
  /** Only rows created before this instant (exclusive). */
  until?: Date | undefined;
  limit: number;
  /**
   * Keyset cursor: rows strictly older than this (created_at, id). While row `id` exists its
   * stored created_at is used: a JS Date drops Postgres' microseconds and would skip rows.
   */
  before?: { createdAt: Date; id: string } | undefined;
}

/** Newest first, keyset-paginated so deep pages stay as fast as the first. */
export async function listAnalyses(sql: Db, filter: AnalysisFilter): Promise<AnalysisRow[]> {
  const { ticker, status, since, until, before, limit } = filter;
  return sql<AnalysisRow[]>`
    SELECT * FROM stock_analyses
    WHERE TRUE
      ${ticker ? sql`AND ticker = ${ticker}` : sql``}
      ${status ? sql`AND status = ${status}` : sql``}
      ${since ? sql`AND created_at >= ${since}` : sql``}
      ${until ? sql`AND created_at < ${until}` : sql``}
      ${
        before
          ? sql`AND (created_at, id) < (
              COALESCE((SELECT c.created_at FROM stock_analyses c WHERE c.id = ${before.id}), ${before.createdAt}),
              ${before.id})`
          : sql``
      }
    ORDER BY created_at DESC, id DESC
    LIMIT ${limit}`;
}
