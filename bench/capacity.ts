/**
 * Capacity plan from a real run: a `stock-ledger worker` process (bin/stock-ledger.js) against
 * the Gemini-protocol emulator, its queue on a private redis-server and its ledger reached
 * through a private PgBouncer in transaction pooling, so every counter read is the run's alone.
 * Two windows, each on a fresh worker process:
 * - "latency 0": the emulator in its own process answering at once, WORKER_CONCURRENCY
 *   --concurrency: the worker's CPU per analysis and its top speed;
 * - "paced": emulator latency --latency-s ±50 %, WORKER_CONCURRENCY --plan-concurrency: the pace
 *   one worker of the plan runs at. The ledger's writes are group-committed, so statements and
 *   commits per analysis depend on the pace: the plan's per-analysis figures come from here.
 * Then this machine's ceilings (redis-benchmark, pgbench straight and through PgBouncer), and a
 * markdown plan per quota in --rpm on stdout (progress on stderr).
 *
 *   npx tsx bench/capacity.ts [--analyses 300] [--concurrency 32] [--rpm 1000,10000,100000]
 *                             [--latency-s 3] [--plan-concurrency 64] [--llm-rpm 1000000]
 *
 * --llm-rpm: the worker's shared rate limiter (LLM_RPM), as a quota-bound deployment runs it;
 * high enough never to throttle the run; 0 turns it off.
 */
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import postgres from "postgres";
import { startEmulator } from "../src/llm/emulator/index.js";
import { openQueueBackend } from "../src/queue/queue-backend.js";
import { createSql, type Sql } from "../src/store/database.js";
import { startPgBouncer } from "../test/helpers/pgbouncer.js";
import { startPrivateRedis } from "../test/helpers/private-redis.js";
import { pgCeiling, redisCeiling } from "./lib/capacity-ceilings.js";
import { bouncerPid, ExitCleanup, redisCounters, redisDelta } from "./lib/capacity-probes.js";
import { capacityReport } from "./lib/capacity-report.js";
import { measureWindow, type Services, type WindowResult } from "./lib/capacity-window.js";
import { loadLine } from "./lib/proc.js";
import { startEmulatorProcess, startWorkerProcess } from "./lib/processes.js";
import { createBenchDatabase, PG_SERVER, uniqueName } from "./lib/services.js";

const { values } = parseArgs({
  options: {
    analyses: { type: "string", default: "300" },
    concurrency: { type: "string", default: "32" },
    rpm: { type: "string", default: "1000,10000,100000" },
    "latency-s": { type: "string", default: "3" },
    "plan-concurrency": { type: "string", default: "64" },
    "llm-rpm": { type: "string", default: "1000000" },
  },
});
const ANALYSES = Number(values.analyses);
const CONCURRENCY = Number(values.concurrency);
const LATENCY_S = Number(values["latency-s"]);
const PLAN_CONCURRENCY = Number(values["plan-concurrency"]);
const LLM_RPM = Number(values["llm-rpm"]);
const log = (line: string) => process.stderr.write(`capacity: ${line}\n`);

const pgUrl = new URL(PG_SERVER);
const pg = { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), user: pgUrl.username || "postgres" };
const cleanup = new ExitCleanup(pg);

async function main() {
  // Undone in reverse, whatever happened; ExitCleanup covers an interrupted run.
  const undo: (() => Promise<unknown>)[] = [];
  // Other work on the machine shows in every figure: the load average says how much there was.
  const loadAverage = () => /load average ([^ ]+),/.exec(loadLine())?.[1] ?? "?";
  const loads = [`${loadAverage()} at the start`];
  try {
    const redis = await startPrivateRedis();
    const monitorRedis = new Redis(redis.url);
    const redisPid = Number(/process_id:(\d+)/.exec(await monitorRedis.info("server"))?.[1]);
    cleanup.pid(redisPid);
    undo.push(async () => {
      monitorRedis.disconnect();
      await redis.stop();
      cleanup.done("pid", redisPid);
    });

    const bouncer = await startPgBouncer({ host: pg.host, port: pg.port });
    const bouncerProc = await bouncerPid(bouncer.port);
    cleanup.pid(bouncerProc.pid);
    cleanup.dir(bouncerProc.dir);
    undo.push(async () => {
      await bouncer.close();
      cleanup.done("pid", bouncerProc.pid);
      cleanup.done("dir", bouncerProc.dir);
    });

    const db = await createBenchDatabase();
    cleanup.database(db.name);
    undo.push(async () => {
      await db.drop();
      cleanup.done("database", db.name);
    });
    const benchApp = "capacity-bench";
    // One named session, so both its commits and its connection can be told from the worker's.
    const benchSql = postgres(db.url, {
      max: 1,
      connection: { application_name: benchApp },
      onnotice: () => {},
    });
    undo.push(() => benchSql.end({ timeout: 5 }));
    const monitor = createSql(`${PG_SERVER}/postgres`, { max: 1 });
    undo.push(() => monitor.end({ timeout: 5 }));

    const prefix = uniqueName("slcap");
    const queues = openQueueBackend({
      queueBackend: "redis",
      redisUrl: redis.url,
      databaseUrl: db.url,
      queuePrefix: prefix,
    });
    const queue = queues.queue("worker");
    undo.push(async () => {
      await queue.close();
      await queues.close();
    });
    await queue.pause();
    // What `queue.resume()` sends, measured before any worker connects (the second time: its
    // script is loaded by then); and, no worker yet, every client of this Redis is the bench's.
    await queue.resume();
    await queue.pause();
    const beforeResume = await redisCounters(monitorRedis);
    await queue.resume();
    const resumeCost = redisDelta(beforeResume, await redisCounters(monitorRedis), new Map()).calls;
    await queue.pause();
    const clientList = (await monitorRedis.client("LIST")) as string;
    const services: Services = {
      benchSql: benchSql as unknown as Sql,
      benchApp,
      monitor,
      monitorRedis,
      queue,
      database: db.name,
      bouncerPort: bouncer.port,
      pids: { redis: redisPid, bouncer: bouncerProc.pid },
      ownRedisIds: new Set([...clientList.matchAll(/^id=(\d+)/gm)].map((m) => m[1] as string)),
      resumeCost,
      jobsEnded: 0,
    };

    /** A fresh worker process on `emulatorUrl`, one window through it, then stopped. */
    const windowWith = async (emulatorUrl: string, concurrency: number): Promise<WindowResult> => {
      const worker = await startWorkerProcess(
        {
          databaseUrl: `${bouncer.server}/${db.name}`,
          queuePrefix: prefix,
          emulatorUrl,
          concurrency,
          extraEnv: {
            REDIS_URL: redis.url,
            DATABASE_POOLING: "transaction",
            // As deployed behind PgBouncer: the price-import LISTEN needs a session of its own.
            DATABASE_LISTEN_URL: db.url,
            ...(LLM_RPM > 0 ? { LLM_RPM: String(LLM_RPM) } : {}),
          },
        },
        async () => (await queue.getWorkersCount()) > 0,
      );
      try {
        const result = await measureWindow(services, worker.pid, { analyses: ANALYSES, warmup: concurrency });
        log(`${ANALYSES} analyses: ${result.statuses}, ${result.analysesPerSec.toFixed(1)}/s`);
        return result;
      } finally {
        await worker.stop("SIGTERM");
        await worker.stop("SIGKILL", 5_000);
      }
    };

    log(`window "latency 0": WORKER_CONCURRENCY ${CONCURRENCY}`);
    const emulator = await startEmulatorProcess(0);
    undo.push(() => emulator.stop("SIGKILL", 5_000));
    const fast = await windowWith(emulator.url, CONCURRENCY);

    log(`window "paced": latency ${LATENCY_S} s ±50 %, WORKER_CONCURRENCY ${PLAN_CONCURRENCY}`);
    // In this process: its CPU is not measured here, and the CLI's emulator has no jitter.
    const paced = await startEmulator({
      latencyMs: LATENCY_S * 500,
      latencyJitterMs: LATENCY_S * 1000,
      seed: 7,
    });
    undo.push(() => paced.close());
    const plan = await windowWith(paced.url, PLAN_CONCURRENCY);
    loads.push(`${loadAverage()} after the windows`);

    // After the workers have stopped, so they take none of the cores the ceilings measure.
    log("ceilings: redis-benchmark, pgbench straight to PostgreSQL and through PgBouncer");
    const redisMax = await redisCeiling(redis.port);
    const pgMax = await pgCeiling(monitor, pg, bouncer.port, bouncerProc.pid, cleanup);
    const rpms = values.rpm.split(",").map(Number);
    const report = capacityReport({ fast, plan }, redisMax, pgMax, {
      rpms,
      latencyS: LATENCY_S,
      concurrency: CONCURRENCY,
      planConcurrency: PLAN_CONCURRENCY,
      llmRpm: LLM_RPM,
      loads: loads.join(", "),
    });
    process.stdout.write(`${report}\n`);
  } finally {
    for (const step of undo.reverse()) await step().catch((err) => log(`cleanup: ${err}`));
  }
}

await main();
