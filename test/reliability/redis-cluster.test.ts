import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../../src/api/server.js";
import type { Config } from "../../src/config/config.js";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { logger } from "../../src/logger.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import { openQueueBackend } from "../../src/queue/queue-backend.js";
import type { LlmCallRow } from "../../src/store/calls-repo.js";
import { runCli } from "../helpers/cli.js";
import { expectLedgerMatchesServer } from "../helpers/ledger-assertions.js";
import { type RedisClusterHandle, startRedisCluster } from "../helpers/redis-cluster.js";
import {
  createTestDatabase,
  openTestQueue,
  type TestDatabase,
  testConfig,
  uniqueName,
} from "../helpers/services.js";
import { startEmulatedWorker, waitUntilEnded as waitForAnalysesToEnd } from "../helpers/worker-test-env.js";

/** The queue on a real Redis Cluster (3 masters, 3 replicas) that this file starts and stops. */
let cluster: RedisClusterHandle;
let db: TestDatabase;
let emulator: EmulatorHandle;
const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL"];

beforeAll(async () => {
  [cluster, db, emulator] = await Promise.all([
    startRedisCluster(),
    createTestDatabase(),
    startEmulator({ latencyMs: 150, latencyJitterMs: 150 }),
  ]);
}, 60_000);

afterAll(async () => {
  await emulator?.close();
  await db?.drop();
  await cluster?.stop();
});

function clusterConfig(tag: string, env: Record<string, string> = {}): Config {
  return testConfig({
    DATABASE_URL: db.url,
    QUEUE_BACKEND: "redis",
    REDIS_URL: cluster.url,
    QUEUE_PREFIX: `{${tag}}`,
    ...env,
  });
}

const startWorker = (config: Config) => startEmulatedWorker(config, emulator, { concurrency: 10 });
const waitUntilEnded = (ids: string[]) => waitForAnalysesToEnd(db.sql, ids, 90_000);

describe("the queue on a Redis Cluster (redis+cluster://, hash-tagged prefix)", () => {
  it("runs analyses to the end with the ledger equal to what the server billed, the rate limiter on the cluster too", async () => {
    const config = clusterConfig(uniqueName("sl-cl"), { LLM_RPM: "1000" });
    const worker = await startWorker(config);
    const producer = openTestQueue(config);
    try {
      const enqueued = await enqueueAnalyses(
        { sql: db.sql, queue: producer.queue },
        { tickers: TICKERS, model: "gemini-2.5-flash" },
      );
      const ids = enqueued.map((a) => a.id);
      await waitUntilEnded(ids);
      const rows = await db.sql`SELECT status FROM stock_analyses WHERE id = ANY(${ids})`;
      expect(rows.map((r) => r.status)).toEqual(Array(TICKERS.length).fill("completed"));
      await expectLedgerMatchesServer(db.sql, ids, emulator.requestLog());
    } finally {
      await producer.close();
      await worker.close(5_000);
    }
  });

  it("a master killed (SIGKILL) with 20 analyses in flight: its replica takes over, all 20 complete, nothing counted twice", async () => {
    const tag = uniqueName("sl-clkill");
    const config = clusterConfig(tag, { WORKER_LOCK_MS: "3000", RECOVERY_INTERVAL_MS: "2000" });
    const worker = await startWorker(config);
    const producer = openTestQueue(config);
    try {
      const enqueued = await enqueueAnalyses(
        { sql: db.sql, queue: producer.queue },
        {
          tickers: Array.from({ length: 20 }, (_, i) => TICKERS[i % TICKERS.length] as string),
          model: "gemini-2.5-flash",
        },
      );
      const ids = enqueued.map((a) => a.id);
      for (;;) {
        const [row] = await db.sql`SELECT count(*)::int AS n FROM llm_calls
          WHERE analysis_id = ANY(${ids}) AND status = 'success'`;
        if ((row?.n ?? 0) >= 30) break;
        await sleep(50);
      }
      const master = await cluster.masterOf(`{${tag}}`);
      const beforeKill = await db.sql<LlmCallRow[]>`SELECT * FROM llm_calls
        WHERE analysis_id = ANY(${ids}) AND status = 'success'`;
      const killedAt = Date.now();
      await master.kill("SIGKILL");
      const promoted = await cluster.waitForFailover(`{${tag}}`, master.port);
      expect(promoted.port).not.toBe(master.port);
      logger.info({ failoverMs: Date.now() - killedAt }, "replica took over");

      await waitUntilEnded(ids);
      const rows = await db.sql`SELECT status FROM stock_analyses WHERE id = ANY(${ids})`;
      expect(rows.map((r) => r.status)).toEqual(Array(20).fill("completed"));
      await expectLedgerMatchesServer(db.sql, ids, emulator.requestLog());
      // Every success recorded before the failover is still there, unchanged.
      const after = await db.sql<LlmCallRow[]>`SELECT * FROM llm_calls WHERE analysis_id = ANY(${ids})`;
      for (const call of beforeKill) {
        expect(
          after.find(
            (c) =>
              c.analysis_id === call.analysis_id &&
              c.call_type === call.call_type &&
              c.attempt === call.attempt,
          ),
        ).toMatchObject({ status: "success", total_tokens: call.total_tokens });
      }
    } finally {
      await producer.close();
      await worker.close(5_000);
    }
  });

  it("serves readyz and a read-only bull-board from the cluster", async () => {
    const config = clusterConfig(uniqueName("sl-clapi"));
    const queueBackend = openQueueBackend(config);
    const queue = queueBackend.queue("producer");
    const app = await buildApi({ config, sql: db.sql, queueBackend, queue, logger });
    try {
      const ready = await app.inject({ url: "/readyz" });
      expect(ready.json()).toEqual({ status: "ready", checks: { postgres: "ok", redis: "ok" } });
      const queues = (await app.inject({ url: "/queues/api/queues" })).json();
      expect(queues.queues.map((q: { name: string }) => q.name)).toEqual(["analyses"]);
    } finally {
      await app.close();
      await queue.close();
      await queueBackend.close();
    }
  });

  it("refuses a prefix without a hash tag, and a malformed seed list, with exit 2 naming the variable", async () => {
    const env = { DATABASE_URL: db.url, REDIS_URL: cluster.url, QUEUE_PREFIX: "stock-ledger" };
    const untagged = await runCli(["analyze", "TCS"], env);
    expect(untagged.code).toBe(2);
    expect(untagged.stderr.trim()).toBe(
      "stock-ledger: invalid QUEUE_PREFIX: with a Redis Cluster (REDIS_URL=redis+cluster://…) it must hold a hash tag, such as {stock-ledger}",
    );
    const malformed = await runCli(["analyze", "TCS"], { ...env, REDIS_URL: "redis+cluster://a:1,,b:2" });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr.trim()).toMatch(
      /^stock-ledger: invalid REDIS_URL: bad cluster node "": use host:port/,
    );
    const [row] =
      await db.sql`SELECT count(*)::int AS n FROM stock_analyses WHERE ticker = 'TCS' AND status = 'queued'`;
    expect(row?.n).toBe(0);
  });
});
