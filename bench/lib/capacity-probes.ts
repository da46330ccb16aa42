/**
 * Counters the capacity bench reads around its window: a private Redis' INFO, a private
 * PgBouncer's admin console, PostgreSQL's pg_stat_activity, and a synchronous last-resort
 * cleanup for what it starts (so even an interrupted run leaves nothing behind).
 */
import { execFile, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import type { Redis } from "ioredis";
import type { Sql } from "../../src/store/database.js";

const run = promisify(execFile);

/** Commands the bench itself sends on its monitoring connections, left out of every count. */
const BENCH_ONLY = /^(info|client\|.*)$/;

export interface RedisCounters {
  /** Calls per command; commands run inside Lua scripts count too, as in total_commands_processed. */
  calls: Map<string, number>;
  usec: Map<string, number>;
  /** `INFO stats` total_commands_processed (this INFO itself not yet in it). */
  processed: number;
}

/** One `INFO stats commandstats` (Redis 7 takes several sections). */
export async function redisCounters(redis: Redis): Promise<RedisCounters> {
  const text = (await redis.call("INFO", "stats", "commandstats")) as string;
  const calls = new Map<string, number>();
  const usec = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    calls.set(m[1] as string, Number(m[2]));
    usec.set(m[1] as string, Number(m[3]));
  }
  const processed = Number(/^total_commands_processed:(\d+)/m.exec(text)?.[1] ?? Number.NaN);
  return { calls, usec, processed };
}

/**
 * Calls per command between two snapshots, less the bench's own: every INFO and CLIENT (the
 * worker sends them only when it connects) and `minus` (the bench's resume and ZCARDs).
 * `processedCheck`: total_commands_processed less the same, which should equal `total`.
 */
export function redisDelta(before: RedisCounters, after: RedisCounters, minus: Map<string, number>) {
  const calls = new Map<string, number>();
  let benchOnly = 0;
  let usec = 0;
  for (const [cmd, n] of after.calls) {
    const d = n - (before.calls.get(cmd) ?? 0);
    if (BENCH_ONLY.test(cmd)) {
      benchOnly += d;
      continue;
    }
    usec += (after.usec.get(cmd) ?? 0) - (before.usec.get(cmd) ?? 0);
    const own = d - (minus.get(cmd) ?? 0);
    if (own > 0) calls.set(cmd, own);
  }
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const minusAll = [...minus.values()].reduce((a, b) => a + b, 0);
  // Each INFO counts itself in neither view, so both deltas hold the same bench INFOs.
  const processedCheck = after.processed - before.processed - benchOnly - minusAll;
  return { calls, total, usec, processedCheck };
}

/** Client ids in `CLIENT LIST`, less the bench's own connections. */
export async function redisClientCount(redis: Redis, own: Set<string>): Promise<number> {
  const list = (await redis.client("LIST")) as string;
  return list.split("\n").filter((line) => {
    const id = /^id=(\d+)/.exec(line)?.[1];
    return id !== undefined && !own.has(id);
  }).length;
}

/**
 * One command on PgBouncer's admin console through psql (it speaks only the simple query
 * protocol). startPgBouncer's `auth_type = any` admits any user name to the console.
 */
export async function bouncerShow(port: number, command: string): Promise<Record<string, string>[]> {
  const { stdout } = await run("psql", [
    ...["-h", "127.0.0.1", "-p", String(port), "-U", "pgbouncer", "-X", "--csv", "pgbouncer"],
    ...["-c", command],
  ]);
  const [header, ...lines] = stdout.trim().split("\n");
  const names = (header ?? "").split(",");
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [names[i] ?? `${i}`, v])));
}

export interface BouncerTotals {
  xacts: number;
  queries: number;
}

/** `SHOW STATS` totals of one database: PgBouncer counts a query per Query or Sync message. */
export async function bouncerTotals(port: number, database: string): Promise<BouncerTotals> {
  const row = (await bouncerShow(port, "SHOW STATS")).find((r) => r.database === database);
  return { xacts: Number(row?.total_xact_count ?? 0), queries: Number(row?.total_query_count ?? 0) };
}

/** PgBouncer's pid, from the pidfile `SHOW CONFIG` names (the helper does not expose its child). */
export async function bouncerPid(port: number): Promise<{ pid: number; dir: string }> {
  const file = (await bouncerShow(port, "SHOW CONFIG")).find((r) => r.key === "pidfile")?.value ?? "";
  return { pid: Number(readFileSync(file, "utf8").trim()), dir: file.replace(/\/[^/]*$/, "") };
}

export interface ConnectionSample {
  redisClients: number;
  bouncerClients: number;
  /** Server connections PgBouncer holds open to the bench database, and how many were busy. */
  bouncerServers: number;
  bouncerServersActive: number;
  /** The worker's own sessions straight to PostgreSQL (its LISTEN connection). */
  pgDirect: number;
}

/** Connections right now; `monitor` is on another database, so it adds nothing to the bench's. */
export async function sampleConnections(
  redis: Redis,
  ownRedisIds: Set<string>,
  bouncerPort: number,
  monitor: Sql,
  database: string,
  benchAppName: string,
): Promise<ConnectionSample> {
  const clients = (await bouncerShow(bouncerPort, "SHOW CLIENTS")).filter((r) => r.database === database);
  const servers = (await bouncerShow(bouncerPort, "SHOW SERVERS")).filter((r) => r.database === database);
  const serverPids = servers.map((s) => Number(s.remote_pid));
  const [direct] = await monitor<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = ${database} AND backend_type = 'client backend'
      AND application_name <> ${benchAppName} AND NOT (pid = ANY(${serverPids}::int[]))`;
  return {
    redisClients: await redisClientCount(redis, ownRedisIds),
    bouncerClients: clients.length,
    bouncerServers: servers.length,
    bouncerServersActive: servers.filter((s) => s.state === "active").length,
    pgDirect: direct?.n ?? 0,
  };
}

/**
 * Synchronous cleanup that runs at process exit if the normal path did not (an error before
 * `finally`, or Ctrl-C: bench/lib/processes.ts exits at once on SIGINT, skipping `finally`).
 * Only what this run started: pids it knows, directories it made, databases it created.
 */
export class ExitCleanup {
  readonly #pids = new Set<number>();
  readonly #dirs = new Set<string>();
  readonly #databases = new Set<string>();
  readonly #psql: string[];
  constructor(pg: { host: string; port: number; user: string }) {
    this.#psql = ["-h", pg.host, "-p", String(pg.port), "-U", pg.user, "-X", "-q", "postgres"];
    process.once("exit", () => this.runSync());
  }
  pid(pid: number) {
    this.#pids.add(pid);
  }
  dir(dir: string) {
    this.#dirs.add(dir);
  }
  database(name: string) {
    this.#databases.add(name);
  }
  /** Cleaned up the ordinary way: nothing left to do for it at exit. */
  done(kind: "pid" | "dir" | "database", value: number | string) {
    if (kind === "pid") this.#pids.delete(value as number);
    else if (kind === "dir") this.#dirs.delete(value as string);
    else this.#databases.delete(value as string);
  }
  runSync() {
    for (const pid of this.#pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    for (const db of this.#databases) {
      spawnSync("psql", [...this.#psql, "-c", `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`]);
    }
    this.#pids.clear();
    this.#dirs.clear();
    this.#databases.clear();
  }
}
