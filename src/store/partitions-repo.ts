import type { Sql } from "./database.js";
import { foldAllPendingRollups } from "./rollups-repo.js";

/** Creates the monthly llm_calls partitions from this month through `monthsAhead` months on. */
export async function ensureCallPartitions(sql: Sql, monthsAhead = 3): Promise<number> {
  const [row] = await sql<{ created: number }[]>`
    SELECT llm_calls_ensure_partitions(
      (now() AT TIME ZONE 'UTC')::date,
      ((now() AT TIME ZONE 'UTC') + ${monthsAhead} * interval '1 month')::date) AS created`;
  return row?.created ?? 0;
}

export interface CallPartition {
  name: string;
  from: Date;
  to: Date;
  rows: number;
}

/** The monthly partitions of llm_calls, oldest first, with their row counts. */
export async function listCallPartitions(sql: Sql): Promise<CallPartition[]> {
  const parts = await sql<{ name: string; bound: string }[]>`
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'llm_calls'::regclass AND c.relname ~ '^llm_calls_y[0-9]{4}m[0-9]{2}$'
    ORDER BY c.relname`;
  const result: CallPartition[] = [];
  for (const part of parts) {
    const [from, to] = [...part.bound.matchAll(/'([^']+)'/g)].map((m) => new Date(m[1] ?? ""));
    const [count] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ${sql(part.name)}`;
    if (from && to) result.push({ name: part.name, from, to, rows: count?.n ?? 0 });
  }
  return result;
}

/**
 * Drops whole months of call rows older than `keepMonths` full months before the current one.
 * The analyses keep their totals and breakdowns (and the stats rollups keep theirs); only the
 * per-call rows go. Returns the partitions dropped (or that would be, with dryRun).
 */
export async function dropOldCallPartitions(
  sql: Sql,
  options: { keepMonths: number; dryRun?: boolean },
): Promise<CallPartition[]> {
  const [cut] = await sql<{ cutoff: Date }[]>`
    SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - ${options.keepMonths} * interval '1 month')
           AT TIME ZONE 'UTC' AS cutoff`;
  const cutoff = cut?.cutoff ?? new Date(0);
  const old = (await listCallPartitions(sql)).filter((p) => p.to.getTime() <= cutoff.getTime());
  if (!options.dryRun && old.length > 0) {
    // Pending analyses are counted from their call rows until folded: fold them first.
    await foldAllPendingRollups(sql);
    for (const part of old) await sql`DROP TABLE ${sql(part.name)}`;
  }
  return old;
}
