/**
 * Postgres server CPU over a measured window, from /proc. Two figures:
 * - `bench`: backends connected to the bench database plus Postgres' own background processes
 *   (WAL writer, checkpointer, background writer, autovacuum launcher…), which do the bench's
 *   WAL flushing; this is what the ratios use.
 * - `all`: every process named `postgres` on the machine, which also includes whatever else
 *   (other databases, other people's tests) Postgres did meanwhile.
 * Backends that exit inside the window are lost; the bench's own pool connections live through it.
 */
import type { Sql } from "../../src/store/database.js";
import { cpuByPid, cpuDelta } from "./proc.js";

export interface PgCpuMark {
  cpu: Map<number, number>;
  benchPids: Set<number>;
}

async function benchPids(sql: Sql, database: string): Promise<Set<number>> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = ${database} OR (datname IS NULL AND backend_type <> 'client backend')`;
  return new Set(rows.map((r) => r.pid));
}

export async function markPgCpu(sql: Sql, database: string): Promise<PgCpuMark> {
  const benchSet = await benchPids(sql, database);
  return { cpu: cpuByPid("postgres"), benchPids: benchSet };
}

export async function pgCpuSince(
  sql: Sql,
  database: string,
  start: PgCpuMark,
): Promise<{ benchMs: number; allMs: number }> {
  const end = await markPgCpu(sql, database);
  const pids = new Set([...start.benchPids, ...end.benchPids]);
  return { benchMs: cpuDelta(start.cpu, end.cpu, pids), allMs: cpuDelta(start.cpu, end.cpu) };
}
