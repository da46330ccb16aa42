/**
 * One measured window of bench/capacity.ts: a running worker, idle on a paused queue, is
 * warmed up, then `analyses` are enqueued, every counter is read, the queue is resumed, and
 * the bench waits on PostgreSQL (not on Redis, whose counters it is reading) until they end.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import type { AnalysisQueue } from "../../src/queue/queue-backend.js";
import type { Sql } from "../../src/store/database.js";
import {
  bouncerTotals,
  type ConnectionSample,
  redisCounters,
  redisDelta,
  sampleConnections,
} from "./capacity-probes.js";
import { enqueueProductAnalyses } from "./enqueue.js";
import { markPgCpu, pgCpuSince } from "./pg-cpu.js";
import { dbCounters } from "./pg-stats.js";
import { processCpuMs } from "./proc.js";

/**
 * Backends flush their statistics at most once a second and, if one went idle within a second
 * of its last flush, only PGSTAT_IDLE_INTERVAL (10 s) later: pg_stat_database is read after this.
 */
const PG_STATS_SETTLE_MS = 11_000;
/** The worker folds finished analyses into the rollups a second after: part of their cost. */
const FOLD_SETTLE_MS = 1_500;
/** BullMQ keeps this many completed jobs (ANALYSIS_JOB_OPTIONS): the completed set holds no more. */
const KEPT_COMPLETED = 10_000;

export interface Services {
  /** The bench's one named session on the bench database (enqueue, polls). */
  benchSql: Sql;
  benchApp: string;
  /** A session on another database, for statistics and CPU marks: nothing on the bench one's. */
  monitor: Sql;
  monitorRedis: Redis;
  queue: AnalysisQueue;
  database: string;
  bouncerPort: number;
  pids: { redis: number; bouncer: number };
  /** Redis clients that are the bench's own; what `queue.resume()` sends. */
  ownRedisIds: Set<string>;
  resumeCost: Map<string, number>;
  /** Jobs ended on the queue so far, over all windows. */
  jobsEnded: number;
}

export interface WindowResult extends ConnectionSample {
  analyses: number;
  analysesPerSec: number;
  statuses: string;
  llmCalls: number;
  redisCommands: number;
  /** Top commands (EVALSHA/EVAL: one script call; its body's commands count as well). */
  redisTop: [string, number][];
  /** total_commands_processed less the bench's own, minus `redisCommands` × analyses: 0 when they agree. */
  redisCheck: number;
  redisCpuMs: number;
  pgStatements: number;
  pgTransactions: number;
  pgCommits: number;
  pgRollbacks: number;
  workerCpuMs: number;
  pgCpuMs: number;
  bouncerCpuMs: number;
}

/** Polls the database until `ids` have a final status, then Redis until BullMQ moved their jobs. */
async function waitEnded(
  s: Services,
  ids: string[],
  own: { polls: number; zcards: number },
  sample?: () => Promise<void>,
) {
  const deadline = Date.now() + 900_000;
  for (let i = 0; ; i++) {
    own.polls++;
    const [row] = await s.benchSql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM stock_analyses
      WHERE id = ANY(${ids}::text[]) AND status NOT IN ('queued', 'running')`;
    if ((row?.n ?? 0) >= ids.length) break;
    if (Date.now() > deadline) throw new Error(`only ${row?.n} of ${ids.length} analyses ended in 900 s`);
    if (sample && i % 4 === 0) await sample();
    await sleep(250);
  }
  // The job's move to completed follows its ledger's finalize.
  s.jobsEnded += ids.length;
  const expected = Math.min(s.jobsEnded, KEPT_COMPLETED);
  for (;;) {
    own.zcards += 2;
    const done =
      (await s.monitorRedis.zcard(s.queue.toKey("completed"))) +
      (await s.monitorRedis.zcard(s.queue.toKey("failed")));
    if (done >= expected) return;
    if (Date.now() > deadline) throw new Error(`only ${done} of ${expected} jobs left the queue in 900 s`);
    await sleep(50);
  }
}

export async function measureWindow(
  s: Services,
  workerPid: number,
  options: { analyses: number; warmup: number },
): Promise<WindowResult> {
  const n = options.analyses;
  const deps = { sql: s.benchSql, queue: s.queue };
  // One wave first: the window then sees a warm worker (JIT-compiled, caches and pools filled).
  await s.queue.resume();
  await waitEnded(s, await enqueueProductAnalyses(deps, options.warmup), { polls: 0, zcards: 0 });
  await s.queue.pause();
  const ids = await enqueueProductAnalyses(deps, n, s.jobsEnded);
  await sleep(PG_STATS_SETTLE_MS);

  const pgBefore = await dbCounters(s.monitor, s.database);
  const bouncerBefore = await bouncerTotals(s.bouncerPort, s.database);
  const pids = { worker: workerPid, ...s.pids };
  const cpuBefore = {
    worker: processCpuMs(pids.worker),
    redis: processCpuMs(pids.redis),
    bouncer: processCpuMs(pids.bouncer),
  };
  const pgCpuMark = await markPgCpu(s.monitor, s.database);
  const redisBefore = await redisCounters(s.monitorRedis);
  const own = { polls: 0, zcards: 0 };
  const samples: ConnectionSample[] = [];
  const startedAt = Date.now();
  await s.queue.resume();
  await waitEnded(s, ids, own, async () => {
    samples.push(
      await sampleConnections(
        s.monitorRedis,
        s.ownRedisIds,
        s.bouncerPort,
        s.monitor,
        s.database,
        s.benchApp,
      ),
    );
  });
  await sleep(FOLD_SETTLE_MS);
  const redisAfter = await redisCounters(s.monitorRedis);
  const cpu = (k: keyof typeof pids) => ((processCpuMs(pids[k]) ?? 0) - (cpuBefore[k] ?? 0)) / n;
  const pgCpu = await pgCpuSince(s.monitor, s.database, pgCpuMark);
  const bouncerAfter = await bouncerTotals(s.bouncerPort, s.database);
  const cpuMs = { worker: cpu("worker"), redis: cpu("redis"), bouncer: cpu("bouncer") };
  await sleep(PG_STATS_SETTLE_MS - FOLD_SETTLE_MS);
  const pgAfter = await dbCounters(s.monitor, s.database);
  await s.queue.pause();

  const [facts] = await s.benchSql<{ last: number; calls: number; statuses: string }[]>`
    SELECT (extract(epoch FROM max(completed_at)) * 1000)::float8 AS last,
           (SELECT count(*) FROM llm_calls WHERE analysis_id = ANY(${ids}::text[]))::float8 AS calls,
           (SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) AS n FROM stock_analyses
              WHERE id = ANY(${ids}::text[]) GROUP BY 1) t) AS statuses
    FROM stock_analyses WHERE id = ANY(${ids}::text[])`;
  const minus = new Map(s.resumeCost);
  minus.set("zcard", (minus.get("zcard") ?? 0) + own.zcards);
  const redis = redisDelta(redisBefore, redisAfter, minus);
  const max = (key: keyof ConnectionSample) => Math.max(0, ...samples.map((x) => x[key]));
  return {
    analyses: n,
    analysesPerSec: (n * 1000) / Math.max(1, (facts?.last ?? Date.now()) - startedAt),
    statuses: facts?.statuses ?? "",
    llmCalls: (facts?.calls ?? 0) / n,
    redisCommands: redis.total / n,
    redisTop: [...redis.calls.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([c, v]) => [c, v / n]),
    redisCheck: redis.processedCheck - redis.total,
    redisCpuMs: cpuMs.redis,
    pgStatements: (bouncerAfter.queries - bouncerBefore.queries) / n,
    pgTransactions: (bouncerAfter.xacts - bouncerBefore.xacts) / n,
    // Each of the bench's polls is one (read-only) commit on the bench database.
    pgCommits: (pgAfter.xact_commit - pgBefore.xact_commit - own.polls) / n,
    pgRollbacks: (pgAfter.xact_rollback - pgBefore.xact_rollback) / n,
    workerCpuMs: cpuMs.worker,
    pgCpuMs: pgCpu.benchMs / n,
    bouncerCpuMs: cpuMs.bouncer,
    redisClients: max("redisClients"),
    bouncerClients: max("bouncerClients"),
    bouncerServers: max("bouncerServers"),
    bouncerServersActive: max("bouncerServersActive"),
    pgDirect: max("pgDirect"),
  };
}
