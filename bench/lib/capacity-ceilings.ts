/**
 * The ceilings the capacity plan divides by, measured on this machine with the stock tools:
 * redis-benchmark against the run's private Redis, and pgbench (simple-update, -N) straight
 * to PostgreSQL and through the run's PgBouncer, in a scratch database dropped afterwards.
 * Each tool runs on the same cores as the server it loads, as on any 2-core box.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Sql } from "../../src/store/database.js";
import { bouncerTotals, type ExitCleanup } from "./capacity-probes.js";
import { processCpuMs } from "./proc.js";
import { median } from "./report.js";
import { uniqueName } from "./services.js";

const run = promisify(execFile);
const BIG = { maxBuffer: 64 * 1024 * 1024 };

export const REDIS_BENCHMARK_ARGS = [
  "-q",
  "-t",
  "set,get,incr,lpush,zadd",
  "-n",
  "200000",
  "-P",
  "1",
  "-c",
  "50",
];
export const PGBENCH_ARGS = ["-c", "16", "-j", "2", "-T", "10", "-N"];

export interface RedisCeiling {
  /** requests/s per redis-benchmark test. */
  tests: Record<string, number>;
  /** Their median: the representative single-command rate. */
  opsPerSec: number;
}

export async function redisCeiling(port: number): Promise<RedisCeiling> {
  const { stdout } = await run(
    "redis-benchmark",
    ["-h", "127.0.0.1", "-p", String(port), ...REDIS_BENCHMARK_ARGS],
    BIG,
  );
  const tests: Record<string, number> = {};
  // -q still prints progress lines separated by \r; the final line per test has "requests per second".
  for (const m of stdout.matchAll(/([A-Z_]+): ([\d.]+) requests per second/g))
    tests[m[1] as string] = Number(m[2]);
  return { tests, opsPerSec: median(Object.values(tests)) };
}

export interface PgCeiling {
  /** pgbench -N transactions/s straight to PostgreSQL. */
  pgTps: number;
  /** The same through PgBouncer (-M simple), and PgBouncer's own count of its queries/s then. */
  bouncerTps: number;
  bouncerQps: number;
  bouncerQueriesPerXact: number;
  /** Share of one core PgBouncer used meanwhile: below 1, PostgreSQL behind it was the limit. */
  bouncerCoreShare: number;
}

function tpsOf(output: string): number {
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
  if (!m) throw new Error(`no tps in pgbench output:\n${output}`);
  return Number(m[1]);
}

export async function pgCeiling(
  admin: Sql,
  pg: { host: string; port: number; user: string },
  bouncerPort: number,
  bouncerPid: number,
  cleanup: ExitCleanup,
): Promise<PgCeiling> {
  const name = uniqueName("sl_cap_pgbench");
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  cleanup.database(name);
  const conn = (host: string, port: number) => ["-h", host, "-p", String(port), "-U", pg.user];
  try {
    await run("pgbench", ["-i", "-s", "1", "-q", ...conn(pg.host, pg.port), name], BIG);
    const direct = await run("pgbench", [...PGBENCH_ARGS, ...conn(pg.host, pg.port), name], BIG);
    const before = await bouncerTotals(bouncerPort, name);
    const cpuBefore = processCpuMs(bouncerPid) ?? 0;
    const started = performance.now();
    // Transaction pooling hands each transaction any server connection: no prepared statements.
    const pooled = await run(
      "pgbench",
      [...PGBENCH_ARGS, "-M", "simple", ...conn("127.0.0.1", bouncerPort), name],
      BIG,
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await bouncerTotals(bouncerPort, name);
    const bouncerTps = tpsOf(pooled.stdout);
    const queriesPerXact = (after.queries - before.queries) / Math.max(1, after.xacts - before.xacts);
    return {
      pgTps: tpsOf(direct.stdout),
      bouncerTps,
      bouncerQps: bouncerTps * queriesPerXact,
      bouncerQueriesPerXact: queriesPerXact,
      bouncerCoreShare: ((processCpuMs(bouncerPid) ?? 0) - cpuBefore) / 1000 / seconds,
    };
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    cleanup.done("database", name);
  }
}
