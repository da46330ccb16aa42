/** A measured batch through stock-ledger workers, and the same batch through the baseline worker. */
import { createRedis } from "../../src/queue/redis.js";
import type { Sql } from "../../src/store/database.js";
import { createBaselineQueue, enqueueBaselineJobs, enqueueProductAnalyses } from "./enqueue.js";
import { type GcSummary, GcTrace } from "./gc-trace.js";
import {
  type CpuSource,
  measureWindow,
  processAndMainThreadCpu,
  processCpu,
  type Window,
} from "./measure.js";
import { markPgCpu, pgCpuSince } from "./pg-cpu.js";
import { dbCounters, pgActivitySince, trackFunctions } from "./pg-stats.js";
import { type BenchProcess, freePort, startBaselineProcess, startWorkerProcess } from "./processes.js";
import type { ReferenceLedger } from "./reference-ledger.js";
import {
  type BenchQueueBackend,
  createBenchDatabase,
  dropQueueKeys,
  openBenchQueue,
  REDIS_URL,
  redisServerPid,
  uniqueName,
} from "./services.js";
import { type AnyQueue, waitForEnded } from "./wait.js";
import { applyWhatIfs, type WhatIf } from "./what-if.js";
import { scrapeWriteWaits, type WriteWaits, writeWaitsSince } from "./write-waits.js";

export interface ProductRun extends Window {
  /** Rows per final status in stock_analyses. */
  statuses: Record<string, number>;
  /** CPU ms per analysis: worker processes + Postgres (bench database backends and background processes). */
  cpuPerAnalysisMs: number;
  workerCpuPerAnalysisMs: number;
  /** Output of each worker after it stopped (its last 64 KB). */
  workerOutputs: string[];
  /** When the clock started, relative to the first worker's spawn (to cut startup out of a profile). */
  startOffsetMs: number;
  /** Transactions and rows per analysis (and PL/pgSQL function times with `pgStats`). */
  pgActivity: string[];
  /** The first worker's garbage collection over the window, with `gcTrace`. */
  gc?: GcSummary;
  /** With `metrics`: every worker's ledger writes, how many and how long they waited to commit. */
  writeWaits: WriteWaits;
}

export interface ProductRunOptions {
  /** Where the queue lives (default Redis); the workers are started on the same. */
  queueBackend?: BenchQueueBackend;
  /** Another Redis than the bench's (e.g. a Redis Cluster's redis+cluster:// seed list). */
  redisUrl?: string;
  analyses: number;
  workers: number;
  concurrency: number;
  emulatorUrl: string;
  emulatorPid: number;
  cpuProfDir?: string | undefined;
  logLevel?: "warn" | "info";
  timeoutMs?: number;
  /** Inline charts (the worker's CHARTS); unset: the product's default. */
  charts?: boolean;
  /** Time PL/pgSQL functions (track_functions = pl): a small cost of its own inside Postgres. */
  pgStats?: boolean;
  /** Hypothetical changes applied to the bench database only, to size a fix before making it. */
  whatIf?: WhatIf[];
  /** Trace the first worker's garbage collection (`--trace-gc-nvp`). */
  gcTrace?: boolean;
  /** The first worker writes a sampling heap profile of promoted objects here (heap-sites.ts). */
  heapSampleDir?: string | undefined;
  /**
   * Workers serve /metrics (`--metrics-port`), read at the end for their ledger writes' waits.
   * Off for item 1: prom-client's process metrics observe every GC, a cost the baseline has not.
   */
  metrics?: boolean;
  /** Jobs run through the workers before the window opens (warmUp). */
  warmup?: number;
}

/**
 * Runs `count` jobs through the already started workers before the measured window, then
 * forgets them: the window then sees warm workers (JIT-compiled hot paths, filled caches,
 * grown heaps), as a long-running worker is. The queue is left paused and empty of ended jobs.
 */
async function warmUp(queue: AnyQueue, count: number, enqueue: (count: number) => Promise<unknown>) {
  if (count <= 0) return;
  await enqueue(count);
  await queue.resume();
  await waitForEnded(queue, count, { timeoutMs: 600_000 });
  await queue.pause();
  await queue.clean(0, 0, "completed");
  await queue.clean(0, 0, "failed");
}

async function commonCpuSources(emulatorPid: number): Promise<CpuSource[]> {
  const sources = [processCpu("emulator", emulatorPid)];
  const redisPid = await redisServerPid();
  if (redisPid !== null) sources.push(processCpu("redis", redisPid));
  return sources;
}

/** Postgres' CPU over the window (bench database backends and background processes; lib/pg-cpu.ts). */
function pgCpuSource(db: { sql: Sql; name: string }, onAllMs: (ms: number) => void): CpuSource {
  return {
    label: "postgres",
    async mark() {
      const start = await markPgCpu(db.sql, db.name);
      return async () => {
        const spent = await pgCpuSince(db.sql, db.name, start);
        onAllMs(spent.allMs);
        return spent.benchMs;
      };
    },
  };
}

export async function runProduct(options: ProductRunOptions): Promise<ProductRun> {
  const db = await createBenchDatabase();
  // Hash-tagged: the same prefix works on a Redis Cluster.
  const prefix = `{${uniqueName("slbench")}}`;
  const opened = openBenchQueue(db.url, prefix, options.queueBackend, options.redisUrl);
  const { queue } = opened;
  const workers: BenchProcess[] = [];
  const metricsUrls: string[] = [];
  try {
    // Paused until every worker is up and every job is in: the window holds only the processing.
    await queue.pause();
    if (options.pgStats) await trackFunctions(db.sql, db.name);
    const workerDbUrl = await applyWhatIfs(db, options.whatIf ?? []);
    const spawnedAt = Date.now();
    const gcTrace = options.gcTrace ? new GcTrace() : undefined;
    for (let i = 0; i < options.workers; i++) {
      const metricsPort = options.metrics ? await freePort() : undefined;
      if (metricsPort) metricsUrls.push(`http://127.0.0.1:${metricsPort}/metrics`);
      workers.push(
        await startWorkerProcess(
          {
            metricsPort,
            databaseUrl: workerDbUrl,
            queuePrefix: prefix,
            emulatorUrl: options.emulatorUrl,
            concurrency: options.concurrency,
            logLevel: options.logLevel,
            cpuProfDir: options.cpuProfDir,
            gcTrace: i === 0 ? gcTrace : undefined,
            heapSampleDir: i === 0 ? options.heapSampleDir : undefined,
            extraEnv: {
              QUEUE_BACKEND: options.queueBackend ?? "redis",
              ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
              ...(options.charts === undefined ? {} : { CHARTS: options.charts ? "on" : "off" }),
            },
          },
          async () => (await queue.getWorkersCount()) > i,
        ),
      );
    }
    await warmUp(queue, options.warmup ?? 0, (n) => enqueueProductAnalyses({ sql: db.sql, queue }, n));
    const measured = await enqueueProductAnalyses(
      { sql: db.sql, queue },
      options.analyses,
      options.warmup ?? 0,
    );
    let pgAll = 0;
    const pg = pgCpuSource(db, (ms) => {
      pgAll = ms;
    });
    const sources = [
      ...workers.flatMap((w, i) => processAndMainThreadCpu(`worker${i}`, w.pid)),
      pg,
      ...(await commonCpuSources(options.emulatorPid)),
    ];
    const counters = await dbCounters(db.sql, db.name);
    const writeWaitsBefore = await scrapeWriteWaits(metricsUrls);
    const window = await measureWindow({
      queue,
      completions: options.queueBackend === "postgres" || options.redisUrl ? "jobs" : "bench-redis",
      analyses: options.analyses,
      workerPids: workers.map((w) => w.pid),
      cpu: sources,
      timeoutMs: options.timeoutMs ?? 600_000,
    });
    const workerCpu = workers.reduce((sum, _, i) => sum + (window.cpuMs[`worker${i}`] ?? 0), 0);
    window.cpuMs.workers = workerCpu;
    window.cpuMs.postgresAll = pgAll;
    const statusRows = await db.sql<{ status: string; n: number }[]>`
      SELECT status, count(*)::int AS n FROM stock_analyses WHERE id = ANY(${measured}) GROUP BY status`;
    const pgActivity = await pgActivitySince(db.sql, db.name, counters, options.analyses);
    const writeWaits = writeWaitsSince(writeWaitsBefore, await scrapeWriteWaits(metricsUrls));
    for (const w of workers) await w.stop("SIGTERM");
    return {
      pgActivity,
      writeWaits,
      ...window,
      statuses: Object.fromEntries(statusRows.map((r) => [r.status, r.n])),
      cpuPerAnalysisMs: (workerCpu + (window.cpuMs.postgres ?? 0)) / options.analyses,
      workerCpuPerAnalysisMs: workerCpu / options.analyses,
      workerOutputs: workers.map((w) => w.output()),
      startOffsetMs: window.startedAt - spawnedAt,
      ...(gcTrace && {
        gc: gcTrace.summary(
          { from: window.startedAt, to: window.endedAt },
          options.analyses / options.workers,
        ),
      }),
    };
  } finally {
    for (const w of workers) await w.stop("SIGKILL", 5_000);
    await opened.close();
    await db.drop();
    await dropQueueKeys(prefix);
  }
}

export interface BaselineRun extends Window {
  /** The worker processes' CPU, plus Postgres' with a reference ledger. */
  cpuPerAnalysisMs: number;
  startOffsetMs: number;
  gc?: GcSummary;
}

export async function runBaseline(options: {
  analyses: number;
  /** Baseline worker processes sharing the queue (default 1); CPU and GC are the first one's with one. */
  workers?: number;
  concurrency: number;
  emulatorUrl: string;
  emulatorPid: number;
  inputs: "per-job" | "cached";
  charts: boolean;
  timeoutMs?: number;
  cpuProfDir?: string | undefined;
  gcTrace?: boolean;
  heapSampleDir?: string | undefined;
  /** Jobs run through the workers before the window opens (warmUp). */
  warmup?: number;
  /** One of the reference ledger designs on top (lib/reference-ledger.ts), in a bench database. */
  ledger?: ReferenceLedger;
}): Promise<BaselineRun> {
  const db = options.ledger ? await createBenchDatabase() : null;
  const prefix = uniqueName("slbase");
  const connection = createRedis(REDIS_URL, "worker");
  const queue = createBaselineQueue(connection, prefix);
  const workers: BenchProcess[] = [];
  const count = options.workers ?? 1;
  try {
    await queue.pause();
    const spawnedAt = Date.now();
    const gcTrace = options.gcTrace ? new GcTrace() : undefined;
    for (let i = 0; i < count; i++) {
      workers.push(
        await startBaselineProcess({
          queuePrefix: prefix,
          emulatorUrl: options.emulatorUrl,
          concurrency: options.concurrency,
          inputs: options.inputs,
          charts: options.charts,
          cpuProfDir: options.cpuProfDir,
          gcTrace: i === 0 ? gcTrace : undefined,
          heapSampleDir: i === 0 ? options.heapSampleDir : undefined,
          ledger: db && options.ledger ? { design: options.ledger, databaseUrl: db.url } : undefined,
        }),
      );
    }
    const enqueue = (n: number) => enqueueBaselineJobs(queue, n, db?.sql);
    await warmUp(queue, options.warmup ?? 0, enqueue);
    await enqueue(options.analyses);
    const window = await measureWindow({
      queue,
      analyses: options.analyses,
      workerPids: workers.map((w) => w.pid),
      cpu: [
        ...workers.flatMap((w, i) => processAndMainThreadCpu(`baseline${i}`, w.pid)),
        ...(db ? [pgCpuSource(db, () => undefined)] : []),
        ...(await commonCpuSources(options.emulatorPid)),
      ],
      timeoutMs: options.timeoutMs ?? 600_000,
    });
    const baselineCpu = workers.reduce((sum, _, i) => sum + (window.cpuMs[`baseline${i}`] ?? 0), 0);
    window.cpuMs.baseline = baselineCpu;
    for (const w of workers) await w.stop("SIGTERM");
    return {
      ...window,
      cpuPerAnalysisMs: (baselineCpu + (window.cpuMs.postgres ?? 0)) / options.analyses,
      startOffsetMs: window.startedAt - spawnedAt,
      ...(gcTrace && {
        gc: gcTrace.summary({ from: window.startedAt, to: window.endedAt }, options.analyses / count),
      }),
    };
  } finally {
    for (const w of workers) await w.stop("SIGKILL", 5_000);
    await queue.close();
    connection.disconnect();
    await db?.drop();
    await dropQueueKeys(prefix);
  }
}
