import { picoToUsd } from "../ledger/money.js";
import type { BreakdownEntry, SavedTotals, TokenTotals } from "../ledger/token-tracker.js";
import type { Sql, TransactionSql } from "./database.js";

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
  },
): Promise<{ created: boolean; row: AnalysisRow }> {
  const [inserted] = await sql<AnalysisRow[]>`
    INSERT INTO stock_analyses (id, ticker, model, status, max_tokens, max_cost_usd, reuse, context_cache)
    VALUES (${input.id}, ${input.ticker}, ${input.model}, 'queued', ${input.maxTokens ?? null},
            ${input.maxCostUsd ?? null}, ${input.reuse ?? false}, ${input.contextCache ?? false})
    ON CONFLICT (id) DO NOTHING
    RETURNING *`;
  if (inserted) return { created: true, row: inserted };
  const existing = await getAnalysis(sql, input.id);
  if (!existing) throw new Error(`analysis ${input.id} vanished during enqueue`);
  return { created: false, row: existing };
}

/** Removes an analysis that never started (its job could not be queued). */
export async function deleteQueuedAnalysis(sql: Db, id: string): Promise<void> {
  await sql`DELETE FROM stock_analyses WHERE id = ${id} AND status = 'queued' AND runs = 0`;
}

export type RunClaim =
  | { kind: "claimed"; row: AnalysisRow }
  | { kind: "ended"; row: AnalysisRow }
  | { kind: "busy"; leaseExpiresAt: Date }
  | { kind: "missing" };

/**
 * Claims the next run of an analysis for `owner` under a lease of `leaseMs`. Only one run
 * holds the lease at a time; an ended analysis is never run again.
 */
export async function claimAnalysisRun(
  sql: Db,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<RunClaim> {
  const [row] = await sql<AnalysisRow[]>`
    UPDATE stock_analyses
    SET status = 'running', started_at = COALESCE(started_at, now()), runs = runs + 1,
        lease_owner = ${owner}, lease_expires_at = now() + ${leaseMs} * interval '1 millisecond'
    WHERE id = ${id} AND status IN ('queued', 'running')
      AND (lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = ${owner})
    RETURNING *`;
  if (row) return { kind: "claimed", row };
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

/**
 * Writes the final totals and breakdown, once: only an unfinished analysis whose lease is this
 * run's (or free) is updated, so null means another run owns it or it has already ended.
 * The same statement marks it for the stats rollups (sql/010: pending until folded), so the
 * stats never disagree with the analysis and its calls — one round trip, no transaction.
 */
export async function finalizeAnalysis(sql: Db, outcome: AnalysisOutcome): Promise<AnalysisRow | null> {
  const { totals } = outcome;
  const [row] = await sql<(AnalysisRow & { rollup: string })[]>`
    WITH finalized AS (
    UPDATE stock_analyses SET
      status = ${outcome.status},
      completed_at = now(),
      duration_ms = GREATEST(0, ROUND(EXTRACT(EPOCH FROM (now() - COALESCE(started_at, created_at))) * 1000))::int,
      total_input_tokens = ${totals.inputTokens},
      total_output_tokens = ${totals.outputTokens},
      total_tokens = ${totals.totalTokens},
      llm_calls_count = ${totals.calls},
      failed_calls_count = ${totals.failedCalls},
      thinking_tokens = ${totals.thinkingTokens},
      cached_input_tokens = ${totals.cachedInputTokens},
      cost_usd = ${totals.costPico === null ? null : picoToUsd(totals.costPico)},
      tokens_saved = ${outcome.saved?.tokensSaved ?? 0},
      cost_saved_usd = ${outcome.saved?.costSavedPico == null ? "0" : picoToUsd(outcome.saved.costSavedPico)},
      token_usage_breakdown = ${sql.json(outcome.breakdown as never)},
      decision = ${outcome.decision === null || outcome.decision === undefined ? null : sql.json(outcome.decision as never)},
      error = ${outcome.error},
      market_data_source = COALESCE(${outcome.marketDataSource}, market_data_source),
      data_hash = COALESCE(${outcome.dataHash ?? null}, data_hash),
      lease_owner = NULL,
      lease_expires_at = NULL
    WHERE id = ${outcome.id} AND status IN ('queued', 'running')
      AND (lease_owner = ${outcome.leaseOwner ?? ""} OR lease_expires_at IS NULL OR lease_expires_at < now())
    RETURNING *)
    SELECT finalized.*, stats_apply_analysis(finalized.id) AS rollup FROM finalized`;
  if (!row) return null;
  const { rollup: _, ...finalized } = row;
  return finalized;
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
