import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { startPrivateRedis } from "../helpers/private-redis.js";
import {
  createTestDatabase,
  dropQueueKeys,
  openTestQueue,
  type TestDatabase,
  testConfig,
  uniqueName,
} from "../helpers/services.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { startEmulatedWorker } from "../helpers/worker-test-env.js";

let db: TestDatabase;
let emulator: EmulatorHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startEmulator({ latencyMs: 100, latencyJitterMs: 100 });
});
afterAll(async () => {
  await emulator.close();
  await db.drop();
});

async function statuses(ids: string[]): Promise<string[]> {
  const rows = await db.sql`SELECT status FROM stock_analyses WHERE id = ANY(${ids}) ORDER BY id`;
  return rows.map((r) => r.status as string);
}

async function waitForEnd(ids: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await statuses(ids)).some((s) => s === "queued" || s === "running")) {
    if (Date.now() > deadline) throw new Error(`analyses did not end: ${await statuses(ids)}`);
    await sleep(100);
  }
}

describe("infrastructure faults", () => {
  it("Redis restarted mid-run without persistence: the worker reconnects and re-queues lost jobs from Postgres", async () => {
    const redis = await startPrivateRedis();
    const prefix = uniqueName("sl-test-redis");
    const config = testConfig({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: prefix,
      RECOVERY_INTERVAL_MS: "1000",
    });
    const runtime = await startEmulatedWorker(config, emulator, { concurrency: 4 });
    const { queue, close: closeQueue } = openTestQueue(config);
    const enqueued = await enqueueAnalyses(
      { sql: db.sql, queue },
      {
        tickers: ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL", "MSFT", "TCS.NS", "INFY.NS"],
        model: "gemini-2.5-flash",
      },
    );
    const ids = enqueued.map((a) => a.id);
    while ((await statuses(ids)).every((s) => s === "queued")) await sleep(20);

    await redis.stop(); // every queued and active job is gone with it
    await sleep(300);
    const restarted = await startPrivateRedis(redis.port);
    await waitForEnd(ids);

    expect(await statuses(ids)).toEqual(Array(8).fill("completed"));
    for (const id of ids) await expectTotalsMatchCalls(db.sql, id);
    await closeQueue();
    await runtime.close();
    expect(runtime.resources.registry.size).toBe(0);
    await restarted.stop();
  });

  it("Postgres away at finalize: finalize retries and the job does not complete before its ledger is written", async () => {
    const proxy = new TcpProxy(5432);
    const port = await proxy.start();
    const prefix = uniqueName("sl-test-pgblip");
    const url = new URL(db.url);
    url.port = String(port);
    const config = testConfig({ DATABASE_URL: url.toString(), QUEUE_PREFIX: prefix });
    const runtime = await startEmulatedWorker(config, emulator, { concurrency: 2 });
    // The test reads the queue around the proxy: on the PostgreSQL backend it lives in the cut database.
    const { queue, close: closeQueue } = openTestQueue({ ...config, databaseUrl: db.url });
    const [analysis] = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: ["INFY"], model: "gemini-2.5-flash" },
    );
    const id = analysis?.id ?? "";

    // Cut Postgres as soon as final_decision has been sent, for longer than the call takes.
    while (!emulator.requestLog().some((e) => e.analysisId === id && e.callType === "final_decision")) {
      await sleep(5);
    }
    proxy.cut();
    await sleep(1500);
    const job = await queue.getJob(id);
    expect(await job?.getState()).toBe("active");
    expect((await statuses([id]))[0]).toBe("running");
    proxy.restore();

    await waitForEnd([id]);
    expect((await statuses([id]))[0]).toBe("completed");
    const sums = await expectTotalsMatchCalls(db.sql, id);
    expect(sums.calls).toBe(6);
    await closeQueue();
    await runtime.close();
    await proxy.close();
    await dropQueueKeys(prefix);
  });
});
