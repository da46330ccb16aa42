/**
 * Chaos run: real worker processes against the Gemini-protocol emulator, real Postgres and
 * Redis, with faults injected. Prints one row per scenario and queue backend: analyses,
 * completed, lost, double-counted calls and leaked trackers. `npm run chaos` (add
 * `-- --only kill-9` for one scenario, `-- --backend postgres` for one backend).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startEmbeddedPostgres, stopEmbeddedPostgres } from "../src/embedded/embedded-postgres.js";
import { type EmulatorHandle, type FaultRule, startEmulator } from "../src/llm/emulator/index.js";
import { enqueueAnalyses } from "../src/queue/enqueue.js";
import type { LlmCallRow } from "../src/store/calls-repo.js";
import { runCli, startCli } from "../test/helpers/cli.js";
import { type PgBouncerHandle, startPgBouncer } from "../test/helpers/pgbouncer.js";
import { startPrivateRedis } from "../test/helpers/private-redis.js";
import { type RedisClusterHandle, startRedisCluster } from "../test/helpers/redis-cluster.js";
import {
  createTestDatabase,
  dropQueueKeys,
  openTestQueue,
  REDIS_URL,
  testConfig,
  uniqueName,
} from "../test/helpers/services.js";
import { TcpProxy } from "../test/helpers/tcp-proxy.js";

const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL", "MSFT"];

interface ScenarioContext {
  env: Record<string, string>;
  /** Starts a worker process; its "worker stopped" line reports leaked trackers. */
  worker(extraEnv?: Record<string, string>): Promise<Awaited<ReturnType<typeof startCli>>>;
  enqueue(count: number, ids?: string[]): Promise<string[]>;
  waitForRecorded(calls: number): Promise<void>;
  /** The analyses among `ids` that have not ended. */
  unfinished(ids: string[]): Promise<string[]>;
  /** Resolves once a batch has been sent (batch-mode scenarios). */
  waitForSubmittedBatch(): Promise<void>;
  /** Seconds from `since` until each of `ids` has ended or started a call after `since`. */
  secondsUntilResumed(ids: string[], since: Date): Promise<number>;
  emulator: EmulatorHandle;
}

type Backend = "redis" | "postgres";

interface Scenario {
  name: string;
  analyses: number;
  /** The queue backends it applies to (default both). */
  backends?: Backend[];
  /** Batch mode: analyses go through the emulator's Batch API, each batch taking this long. */
  batchDelayMs?: number;
  faults?: FaultRule[];
  run(ctx: ScenarioContext): Promise<{
    ids: string[];
    stops: Awaited<ReturnType<typeof startCli>>[];
    /** How long the fault held the analyses up, where the scenario measures it. */
    recoverySeconds?: number;
  }>;
  setup?(): Promise<{
    /** PG_PROXY_PORT: workers reach Postgres through that proxy; PG_SERVER: the run's own server. */
    env: Record<string, string>;
    teardown(): Promise<void>;
    hooks?: Record<string, () => Promise<void>>;
  }>;
}

interface Row {
  scenario: string;
  backend: Backend;
  analyses: number;
  completed: number;
  calls: number;
  failedCalls: number;
  lost: number;
  doubleCounted: number;
  leakedTrackers: number;
  recoverySeconds: number | undefined;
  seconds: number;
}

const randomFaults: FaultRule[] = [
  { kind: "rate_limited", probability: 0.08, retryDelaySeconds: 0.2 },
  { kind: "server_error", probability: 0.04 },
  { kind: "overloaded", probability: 0.04 },
  { kind: "timeout", probability: 0.02 },
  { kind: "reset", probability: 0.02 },
  { kind: "non_json", probability: 0.02 },
  { kind: "missing_usage", probability: 0.04 },
  { kind: "bad_schema", callType: "final_decision", probability: 0.2 },
];

let privateRedis: Awaited<ReturnType<typeof startPrivateRedis>> | null = null;
let pgProxy: TcpProxy | null = null;
let privatePostgres: { dir: string; port: number } | null = null;
let redisCluster: RedisClusterHandle | null = null;
let pgBouncer: PgBouncerHandle | null = null;

const SCENARIOS: Scenario[] = [
  {
    name: "baseline",
    analyses: 20,
    async run(ctx) {
      const w = await ctx.worker();
      return { ids: await ctx.enqueue(20), stops: [w] };
    },
  },
  {
    name: "llm faults (429/5xx/hang/reset/bad body)",
    analyses: 20,
    faults: randomFaults,
    async run(ctx) {
      const w = await ctx.worker();
      return { ids: await ctx.enqueue(20), stops: [w] };
    },
  },
  {
    // At the default WORKER_LOCK_MS: how long until every analysis the killed worker held runs again.
    name: "kill -9 worker mid-run",
    analyses: 20,
    async run(ctx) {
      const defaults = { WORKER_LOCK_MS: "10000" };
      const doomed = await ctx.worker(defaults);
      const ids = await ctx.enqueue(20);
      await ctx.waitForRecorded(40);
      const held = await ctx.unfinished(ids);
      const killedAt = new Date();
      await doomed.stop("SIGKILL");
      const rescuer = await ctx.worker(defaults);
      const recoverySeconds = await ctx.secondsUntilResumed(held, killedAt);
      return { ids, stops: [rescuer], recoverySeconds };
    },
  },
  {
    // Batch mode: the worker dies with a batch pending; the next one must poll that batch, never send it again.
    name: "kill -9 worker, batch pending",
    analyses: 20,
    batchDelayMs: 4000,
    async run(ctx) {
      const doomed = await ctx.worker();
      const ids = await ctx.enqueue(20);
      await ctx.waitForSubmittedBatch();
      await doomed.stop("SIGKILL");
      const rescuer = await ctx.worker();
      return { ids, stops: [rescuer] };
    },
  },
  {
    name: "SIGTERM drain mid-run",
    analyses: 20,
    async run(ctx) {
      const first = await ctx.worker();
      const ids = await ctx.enqueue(20);
      await ctx.waitForRecorded(30);
      const code = await first.stop("SIGTERM");
      if (code !== 0) throw new Error(`worker exited ${code} on SIGTERM`);
      const leaked = /"liveTrackers":(\d+)/.exec(first.output())?.[1];
      if (leaked !== "0") throw new Error(`worker leaked ${leaked} trackers`);
      return { ids, stops: [first, await ctx.worker()] };
    },
  },
  {
    name: "two workers share the queue",
    analyses: 40,
    async run(ctx) {
      const a = await ctx.worker();
      const b = await ctx.worker();
      return { ids: await ctx.enqueue(40), stops: [a, b] };
    },
  },
  {
    name: "same ids enqueued by two processes",
    analyses: 10,
    async run(ctx) {
      const w = await ctx.worker();
      const ids = Array.from({ length: 10 }, (_, i) => `${uniqueName("dup").replaceAll("_", "-")}-${i}`);
      await Promise.all(
        ids.flatMap((id, i) =>
          [0, 1].map(() => runCli(["analyze", TICKERS[i % TICKERS.length] as string, "--id", id], ctx.env)),
        ),
      );
      return { ids, stops: [w] };
    },
  },
  {
    name: "Redis restarted (no persistence)",
    analyses: 20,
    backends: ["redis"],
    async setup() {
      privateRedis = await startPrivateRedis();
      const redis = privateRedis;
      return { env: { REDIS_URL: redis.url }, teardown: async () => privateRedis?.stop() };
    },
    async run(ctx) {
      const w = await ctx.worker();
      const ids = await ctx.enqueue(20);
      await ctx.waitForRecorded(30);
      const port = privateRedis?.port;
      await privateRedis?.stop();
      await sleep(500);
      privateRedis = await startPrivateRedis(port);
      return { ids, stops: [w] };
    },
  },
  {
    name: "Postgres away for 3 s",
    analyses: 20,
    async setup() {
      pgProxy = new TcpProxy(5432);
      const port = await pgProxy.start();
      return { env: { PG_PROXY_PORT: String(port) }, teardown: async () => pgProxy?.close() };
    },
    async run(ctx) {
      const w = await ctx.worker();
      const ids = await ctx.enqueue(20);
      await ctx.waitForRecorded(30);
      pgProxy?.cut();
      await sleep(3000);
      pgProxy?.restore();
      return { ids, stops: [w] };
    },
  },
  {
    // The master holding the queue's slot is killed; its replica takes over (node-timeout 1 s).
    name: "Redis Cluster master killed",
    analyses: 20,
    backends: ["redis"],
    async setup() {
      redisCluster = await startRedisCluster();
      return { env: { REDIS_URL: redisCluster.url }, teardown: async () => redisCluster?.stop() };
    },
    async run(ctx) {
      const w = await ctx.worker();
      const ids = await ctx.enqueue(20);
      await ctx.waitForRecorded(30);
      const cluster = redisCluster;
      if (!cluster) throw new Error("no Redis Cluster");
      const master = await cluster.masterOf(ctx.env.QUEUE_PREFIX as string);
      await master.kill("SIGKILL");
      await cluster.waitForFailover(ctx.env.QUEUE_PREFIX as string, master.port);
      return { ids, stops: [w] };
    },
  },
  {
    // PgBouncer (transaction pooling) in front of PostgreSQL stopped for 2 s and started again.
    name: "PgBouncer restarted mid-run",
    analyses: 20,
    async setup() {
      pgBouncer = await startPgBouncer();
      return {
        env: { PG_PROXY_PORT: String(pgBouncer.port), DATABASE_POOLING: "transaction" },
        teardown: async () => pgBouncer?.close(),
      };
    },
    async run(ctx) {
      const w = await ctx.worker();
      const ids = await ctx.enqueue(20);
      await ctx.waitForRecorded(30);
      await pgBouncer?.stop();
      await sleep(2000);
      await pgBouncer?.start();
      return { ids, stops: [w] };
    },
  },
  {
    // A real restart (fast shutdown, then start), of a PostgreSQL server of the run's own.
    name: "PostgreSQL restarted mid-run",
    analyses: 20,
    async setup() {
      const dir = await mkdtemp(path.join(os.tmpdir(), "sl-chaos-pg-"));
      const server = await startEmbeddedPostgres({ dir, detached: true });
      privatePostgres = { dir, port: server.port };
      return {
        env: { PG_SERVER: server.url.replace(/\/[^/]*$/, "") },
        async teardown() {
          await stopEmbeddedPostgres(dir);
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
    async run(ctx) {
      const w = await ctx.worker();
      const ids = await ctx.enqueue(20);
      await ctx.waitForRecorded(30);
      const server = privatePostgres;
      if (!server) throw new Error("no private PostgreSQL");
      await stopEmbeddedPostgres(server.dir);
      await sleep(1000);
      await startEmbeddedPostgres({ dir: server.dir, port: server.port, detached: true });
      return { ids, stops: [w] };
    },
  },
];

async function runScenario(scenario: Scenario, backend: Backend): Promise<Row> {
  const started = Date.now();
  const extra = scenario.setup ? await scenario.setup() : null;
  const db = await createTestDatabase(extra?.env.PG_SERVER);
  const emulator = await startEmulator({
    latencyMs: 100,
    latencyJitterMs: 200,
    faults: scenario.faults ?? [],
    seed: 7,
    ...(scenario.batchDelayMs === undefined ? {} : { batchDelayMs: scenario.batchDelayMs }),
  });
  // Hash-tagged, so the same prefix also works on a Redis Cluster.
  const prefix = `{${uniqueName("sl-chaos")}}`;
  const redisUrl = extra?.env.REDIS_URL ?? REDIS_URL;
  const workerDbUrl = extra?.env.PG_PROXY_PORT
    ? db.url.replace(":5432/", `:${extra.env.PG_PROXY_PORT}/`)
    : db.url;
  // Behind a transaction pooler, the LISTEN (and a PostgreSQL queue) take a direct connection.
  const pooling: Record<string, string> =
    extra?.env.DATABASE_POOLING === "transaction"
      ? { DATABASE_POOLING: "transaction", DATABASE_LISTEN_URL: db.url }
      : {};
  const env: Record<string, string> = {
    DATABASE_URL: workerDbUrl,
    ...pooling,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    QUEUE_BACKEND: backend,
    GEMINI_BASE_URL: emulator.url,
    GEMINI_API_KEY: "chaos",
    WORKER_CONCURRENCY: "8",
    WORKER_LOCK_MS: "3000",
    RECOVERY_INTERVAL_MS: "2000",
    LLM_TIMEOUT_MS: "3000",
    BATCH_COLLECT_MS: "300",
    BATCH_POLL_MIN_MS: "200",
    BATCH_POLL_MAX_MS: "1000",
  };
  const producer = openTestQueue(testConfig({ ...env, DATABASE_URL: db.url }));
  const ctx: ScenarioContext = {
    env: { ...env, DATABASE_URL: db.url },
    emulator,
    worker: (extraEnv = {}) => startCli(["worker"], { ...env, ...extraEnv }, /worker ready/),
    async enqueue(count) {
      const tickers = Array.from({ length: count }, (_, i) => TICKERS[i % TICKERS.length] as string);
      const enqueued = await enqueueAnalyses(
        { sql: db.sql, queue: producer.queue },
        { tickers, model: "gemini-2.5-flash", batch: scenario.batchDelayMs !== undefined },
      );
      return enqueued.map((a) => a.id);
    },
    async waitForSubmittedBatch() {
      for (;;) {
        const [row] = await db.sql`SELECT count(*)::int AS n FROM llm_batches WHERE name IS NOT NULL`;
        if ((row?.n ?? 0) > 0) return;
        await sleep(50);
      }
    },
    async unfinished(ids) {
      const rows = await db.sql<{ id: string }[]>`SELECT id FROM stock_analyses
        WHERE id = ANY(${ids}) AND status IN ('queued', 'running')`;
      return rows.map((r) => r.id);
    },
    async secondsUntilResumed(ids, since) {
      for (;;) {
        const [row] = await db.sql<
          { waiting: number }[]
        >`SELECT count(*)::int AS waiting FROM stock_analyses a
          WHERE a.id = ANY(${ids}) AND a.status IN ('queued', 'running')
            AND NOT EXISTS (SELECT 1 FROM llm_calls c WHERE c.analysis_id = a.id AND c.started_at > ${since})`;
        if (row?.waiting === 0) return (Date.now() - since.getTime()) / 1000;
        await sleep(100);
      }
    },
    async waitForRecorded(calls) {
      for (;;) {
        const [row] = await db.sql`SELECT count(*)::int AS n FROM llm_calls WHERE status <> 'interrupted'`;
        if ((row?.n ?? 0) >= calls) return;
        await sleep(50);
      }
    },
  };
  let ids: string[] = [];
  let leakedTrackers = 0;
  try {
    const outcome = await scenario.run(ctx);
    ids = outcome.ids;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM stock_analyses
        WHERE id = ANY(${ids}) AND status NOT IN ('queued', 'running')`;
      if (row?.n === ids.length || Date.now() > deadline) break;
      await sleep(200);
    }
    for (const w of outcome.stops) {
      if (w.child.exitCode === null && w.child.signalCode === null) await w.stop("SIGTERM");
      const leaked = /"liveTrackers":(\d+)/.exec(w.output())?.[1];
      if (leaked) leakedTrackers += Number(leaked);
    }
    if (process.env.CHAOS_LOG_DIR) {
      const { writeFileSync } = await import("node:fs");
      for (const [i, w] of outcome.stops.entries()) {
        const file = `${process.env.CHAOS_LOG_DIR}/${scenario.name.replace(/\W+/g, "-")}-${i}.log`;
        writeFileSync(file, w.output());
      }
    }
    const rows = await db.sql`SELECT * FROM stock_analyses WHERE id = ANY(${ids})`;
    const [calls] =
      await db.sql`SELECT count(*)::int AS n, count(*) FILTER (WHERE status <> 'success')::int AS failed
      FROM llm_calls WHERE analysis_id = ANY(${ids})`;
    const ended = rows.filter((r) => !["queued", "running"].includes(r.status));
    return {
      scenario: scenario.name,
      backend,
      analyses: ids.length,
      completed: rows.filter((r) => r.status === "completed").length,
      calls: calls?.n ?? 0,
      failedCalls: calls?.failed ?? 0,
      lost: ids.length - ended.length,
      doubleCounted: await countDoubleCounted(db.sql, ids, emulator),
      leakedTrackers,
      recoverySeconds: outcome.recoverySeconds,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await producer.close();
    await emulator.close();
    // The database first: a scenario's own server goes with its teardown.
    await db.drop();
    await extra?.teardown();
    await dropQueueKeys(prefix);
  }
}

/**
 * A call counts as double-counted when the ledger disagrees with the server: totals that are
 * not the sums of the calls, a stage asked again after its success was recorded, a recorded
 * success whose tokens differ from what the server returned for that attempt, or a batch
 * created more than once.
 */
async function countDoubleCounted(
  sql: Awaited<ReturnType<typeof createTestDatabase>>["sql"],
  ids: string[],
  emulator: EmulatorHandle,
): Promise<number> {
  const log = emulator.requestLog().filter((e) => e.method === "generateContent");
  // A batch sent twice would bill its requests twice.
  let bad = emulator.batches().reduce((extra, batch) => extra + Math.max(0, batch.createCount - 1), 0);
  const mismatched = await sql`
    SELECT a.id FROM stock_analyses a
    LEFT JOIN (SELECT analysis_id, count(*) AS n, sum(total_tokens) AS t, sum(input_tokens) AS i, sum(output_tokens) AS o
               FROM llm_calls GROUP BY analysis_id) c ON c.analysis_id = a.id
    WHERE a.id = ANY(${ids}) AND a.status NOT IN ('queued', 'running')
      AND (a.llm_calls_count <> COALESCE(c.n, 0) OR a.total_tokens <> COALESCE(c.t, 0)
           OR a.total_input_tokens <> COALESCE(c.i, 0) OR a.total_output_tokens <> COALESCE(c.o, 0))`;
  bad += mismatched.length;
  const successes = await sql<
    LlmCallRow[]
  >`SELECT * FROM llm_calls WHERE analysis_id = ANY(${ids}) AND status = 'success'`;
  for (const call of successes) {
    const requests = log.filter((e) => e.analysisId === call.analysis_id && e.callType === call.call_type);
    bad += requests.filter((e) => (e.attempt ?? 0) > call.attempt).length;
    const served = requests.find((e) => e.attempt === call.attempt)?.usageMetadata;
    if (served && served.totalTokenCount !== call.total_tokens) bad += 1;
  }
  return bad;
}

function printTable(rows: Row[]): void {
  const header = [
    "scenario",
    "queue",
    "analyses",
    "completed",
    "calls",
    "failed/interrupted calls",
    "lost",
    "double-counted calls",
    "leaked trackers",
    "resumed after s",
    "seconds",
  ];
  const lines = rows.map((r) => [
    r.scenario,
    r.backend,
    String(r.analyses),
    String(r.completed),
    String(r.calls),
    String(r.failedCalls),
    String(r.lost),
    String(r.doubleCounted),
    String(r.leakedTrackers),
    r.recoverySeconds === undefined ? "" : r.recoverySeconds.toFixed(1),
    r.seconds.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const line of lines) console.log(fmt(line));
}

const argument = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const filter = argument("--only");
const backendArg = argument("--backend") ?? "both";
if (!["redis", "postgres", "both"].includes(backendArg)) {
  process.stderr.write(
    `chaos: --backend must be redis, postgres or both, not ${JSON.stringify(backendArg)}\n`,
  );
  process.exit(2);
}
const backends: Backend[] = backendArg === "both" ? ["redis", "postgres"] : [backendArg as Backend];
const rows: Row[] = [];
for (const scenario of SCENARIOS.filter((s) => !filter || s.name.includes(filter))) {
  for (const backend of backends.filter((b) => (scenario.backends ?? backends).includes(b))) {
    process.stderr.write(`chaos: ${scenario.name} (queue on ${backend})…\n`);
    rows.push(await runScenario(scenario, backend));
  }
}
printTable(rows);
const failed = rows.some((r) => r.lost > 0 || r.doubleCounted > 0 || r.leakedTrackers > 0);
process.exit(failed ? 1 : 0);
