/**
 * What Postgres did for a run, from its statistics views: transactions (each commit is a WAL
 * flush), rows written, and with `track_functions` the time inside PL/pgSQL functions
 * (the stats rollup in the finalize transaction).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Sql } from "../../src/store/database.js";

interface DbCounters {
  xact_commit: number;
  xact_rollback: number;
  tup_inserted: number;
  tup_updated: number;
  tup_fetched: number;
  tup_returned: number;
}

export async function dbCounters(sql: Sql, database: string): Promise<DbCounters> {
  const [row] = await sql<DbCounters[]>`
    SELECT xact_commit::float8 AS xact_commit, xact_rollback::float8 AS xact_rollback,
           tup_inserted::float8 AS tup_inserted, tup_updated::float8 AS tup_updated,
           tup_fetched::float8 AS tup_fetched, tup_returned::float8 AS tup_returned
    FROM pg_stat_database WHERE datname = ${database}`;
  if (!row) throw new Error(`no pg_stat_database row for ${database}`);
  return row;
}

/** Makes new sessions of the database time PL/pgSQL functions (pg_stat_user_functions). */
export async function trackFunctions(sql: Sql, database: string): Promise<void> {
  await sql.unsafe(`ALTER DATABASE "${database}" SET track_functions = 'pl'`);
}

/** Per-analysis figures between `before` and now; waits for backends to flush their stats. */
export async function pgActivitySince(
  sql: Sql,
  database: string,
  before: DbCounters,
  analyses: number,
): Promise<string[]> {
  // Backends report their counters at most about once a second, when idle.
  await sleep(1500);
  const after = await dbCounters(sql, database);
  const per = (key: keyof DbCounters) => ((after[key] - before[key]) / analyses).toFixed(1);
  const lines = [
    `Postgres per analysis: ${per("xact_commit")} commits, ${per("xact_rollback")} rollbacks, ${per("tup_inserted")} rows inserted, ` +
      `${per("tup_updated")} updated, ${per("tup_fetched")} fetched (includes the bench's own polling and stats reads)`,
  ];
  lines.push(await hotUpdateShares(sql));
  const functions = await sql<{ funcname: string; calls: number; total_time: number; self_time: number }[]>`
    SELECT funcname, calls::float8 AS calls, total_time, self_time FROM pg_stat_user_functions ORDER BY total_time DESC`;
  for (const f of functions) {
    lines.push(
      `  ${f.funcname}: ${f.calls} calls, ${(f.total_time / Math.max(1, f.calls)).toFixed(3)} ms each (self ${(f.self_time / Math.max(1, f.calls)).toFixed(3)} ms)`,
    );
  }
  return lines;
}

/**
 * How many row updates were HOT (heap-only: no index entries written) per table, since the
 * bench database was created. A call's closing row updates its start marker; HOT keeps that
 * update off the table's three indexes.
 */
async function hotUpdateShares(sql: Sql): Promise<string> {
  const rows = await sql<{ name: string; updates: number; hot: number }[]>`
    SELECT CASE WHEN relname LIKE 'llm_calls%' THEN 'llm_calls' ELSE relname END AS name,
           sum(n_tup_upd)::float8 AS updates, sum(n_tup_hot_upd)::float8 AS hot
    FROM pg_stat_user_tables WHERE relname LIKE 'llm_calls%' OR relname = 'stock_analyses'
    GROUP BY 1 ORDER BY 1`;
  const shares = rows.map(
    (r) => `${r.name} ${r.updates === 0 ? "-" : `${Math.round((100 * r.hot) / r.updates)}%`} of ${r.updates}`,
  );
  return `HOT (heap-only) updates: ${shares.join(", ")}`;
}
