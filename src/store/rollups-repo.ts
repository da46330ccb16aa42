import type { Sql, TransactionSql } from "./database.js";

/**
 * Writes the stats rollups (sql/002_rollups.sql, savings added by 009). The SQL functions hold the one
 * definition of a rollup row, used by finalize, by re-derivation and by the migration's
 * backfill alike.
 */

/**
 * 'added': now pending, for the folder to add (`foldPendingRollups`); 'rebuilt': it had been
 * folded before, so its days were re-derived without it and it is pending again.
 */
export type RollupOutcome = "added" | "rebuilt";

/**
 * Marks a finalized analysis for the daily and monthly rollups (pending until folded; stats
 * count it either way). `finalizeAnalysis` does this in its own statement; this is for an
 * analysis ended some other way (it re-derives the days of one already folded).
 */
export async function applyRollups(tx: TransactionSql, analysisId: string): Promise<RollupOutcome> {
  const [row] = await tx<{ outcome: RollupOutcome }[]>`SELECT stats_apply_analysis(${analysisId}) AS outcome`;
  if (!row) throw new Error(`no rollup outcome for analysis ${analysisId}`);
  return row.outcome;
}

/**
 * Folds up to `limit` pending analyses into the rollup rows in one transaction. Returns how
 * many, or null when another session is folding right now (it takes these too).
 */
export async function foldPendingRollups(sql: Sql, limit = 500): Promise<number | null> {
  const [row] = await sql<{ folded: number | null }[]>`SELECT stats_fold_pending(${limit}) AS folded`;
  return row?.folded ?? null;
}

/**
 * Folds every analysis pending now, waiting out another session's fold if one is under way
 * (retention does this before dropping call rows the pending contributions are read from).
 */
export async function foldAllPendingRollups(sql: Sql, limit = 500): Promise<void> {
  for (;;) {
    const folded = await foldPendingRollups(sql, limit);
    if (folded === null) await new Promise((resolve) => setTimeout(resolve, 50));
    else if (folded < limit) return;
  }
}

/** How many finalized analyses wait to be folded into the rollups. */
export async function countPendingRollups(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stats_rollup_pending`;
  return row?.n ?? 0;
}

/**
 * Re-derives the rollups of the days [from, to] ("YYYY-MM-DD", UTC; both omitted: every day)
 * from the stored calls of the analyses rolled up on those days.
 */
export async function rebuildRollups(sql: Sql, range: { from?: string; to?: string } = {}): Promise<void> {
  await sql.begin(
    (tx) => tx`SELECT stats_rebuild_rollups(${range.from ?? null}::date, ${range.to ?? null}::date)`,
  );
}

/** Rolls up every ended analysis not yet in the rollups (what the migration does once). */
export async function backfillRollups(sql: Sql): Promise<void> {
  await sql.begin((tx) => tx`SELECT stats_backfill_rollups()`);
}

/**
 * Upper bounds (ms) of the latency buckets, as `stats_latency_bounds()` in the migration:
 * round(2^(k/4)). Bucket 0 is [0, 1), bucket i is [bound[i-1], bound[i]), the last bucket is
 * everything from the last bound up. Each bucket above 8 ms is at most 25% wider than its
 * lower bound (about 19% above 50 ms), which bounds the error of a percentile read from it.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 16, 19, 23, 27, 32, 38, 45, 54, 64, 76, 91, 108, 128, 152, 181, 215,
  256, 304, 362, 431, 512, 609, 724, 861, 1024, 1218, 1448, 1722, 2048, 2435, 2896, 3444, 4096, 4871, 5793,
  6889, 8192, 9742, 11585, 13777, 16384, 19484, 23170, 27554, 32768, 38968, 46341, 55109, 65536, 77936, 92682,
  110218, 131072, 155872, 185364, 220436, 262144, 311744, 370728, 440872, 524288, 623487, 741455, 881744,
  1048576,
];

export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/**
 * The p-th percentile (0 < p ≤ 1) of the durations in a merged histogram: finds the bucket
 * holding the sample of that rank and interpolates linearly inside it. `maxMs` (the largest
 * duration seen) closes the open last bucket and caps the estimate. null when empty.
 */
export function latencyPercentile(hist: readonly number[], p: number, maxMs: number | null): number | null {
  const total = hist.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let before = 0;
  for (let bucket = 0; bucket < hist.length; bucket++) {
    const n = hist[bucket] ?? 0;
    if (before + n < rank) {
      before += n;
      continue;
    }
    // Durations are whole ms, so bucket [low, next) holds low..next-1.
    const low = bucket === 0 ? 0 : (LATENCY_BOUNDS_MS[bucket - 1] ?? 0);
    const next = LATENCY_BOUNDS_MS[bucket];
    const top = next === undefined ? Math.max(low, maxMs ?? low) : next - 1;
    const estimate = low + ((top - low) * (rank - before - 0.5)) / n;
    return Math.round(maxMs === null ? estimate : Math.min(estimate, maxMs));
  }
  return maxMs;
}
