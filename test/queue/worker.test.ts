import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForAnalyses } from "../../src/cli/wait-for-analyses.js";
import type { Config } from "../../src/config/config.js";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import type { AnalysisQueue } from "../../src/queue/analysis-queue.js";
import type { AnalysisProgress } from "../../src/queue/analysis-worker.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import { billedByServer, expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import {
  createTestDatabase,
  dropQueueKeys,
  openTestQueue,
  type TestDatabase,
  testConfig,
  uniqueName,
} from "../helpers/services.js";
import { startEmulatedWorker } from "../helpers/worker-test-env.js";

let db: TestDatabase;
let emulator: EmulatorHandle;
let config: Config;
let queue: AnalysisQueue;
let closeQueue: () => Promise<void>;
const prefix = uniqueName("sl-test-worker");
const closers: (() => Promise<unknown>)[] = [];

const startWorker = (concurrency: number): Promise<WorkerRuntime> =>
  startEmulatedWorker(config, emulator, { concurrency });

/** The shared workers stopped, and one of its own against an emulator answering in 400 ms. */
async function startSlowWorker(concurrency: number, latencyMs = 400) {
  for (const close of closers.splice(0)) await close();
  const slow = await startEmulator({ latencyMs });
  const runtime = await startEmulatedWorker(config, slow, { concurrency });
  return { slow, runtime };
}

async function waitFor(ids: string[]) {
  const events = openTestQueue(config);
  try {
    return await waitForAnalyses({
      sql: db.sql,
      queue,
      queueEvents: await events.queueEvents(),
      ids,
      pollMs: 200,
    });
  } finally {
    await events.close();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startEmulator({ latencyMs: 20, latencyJitterMs: 30 });
  config = testConfig({ DATABASE_URL: db.url, QUEUE_PREFIX: prefix });
  ({ queue, close: closeQueue } = openTestQueue(config));
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await closeQueue();
  await emulator.close();
  await db.drop();
  await dropQueueKeys(prefix);
});

describe("analysis worker (BullMQ, real Redis and Postgres)", () => {
  it("runs 50 analyses of mixed tickers at once with no tracker seeing another's calls", async () => {
    const runtime = await startWorker(50);
    closers.push(() => runtime.close());
    const tickers = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL", "MSFT"];
    const enqueued = await enqueueAnalyses(
      { sql: db.sql, queue },
      {
        tickers: Array.from({ length: 50 }, (_, i) => tickers[i % tickers.length] as string),
        model: "gemini-2.5-flash",
      },
    );
    let peakTrackers = 0;
    const sampler = setInterval(() => {
      peakTrackers = Math.max(peakTrackers, runtime.resources.registry.size);
    }, 5);
    const outcomes = await waitFor(enqueued.map((a) => a.id));
    clearInterval(sampler);

    expect(outcomes.map((o) => o.row?.status)).toEqual(Array(50).fill("completed"));
    expect(peakTrackers).toBeGreaterThan(1);
    const log = emulator.requestLog();
    for (const { id, ticker } of enqueued) {
      const sums = await expectTotalsMatchCalls(db.sql, id);
      const billed = billedByServer(log, id);
      expect(billed.requests).toBe(6);
      expect(sums).toMatchObject({
        calls: 6,
        input: billed.input,
        output: billed.output,
        total: billed.total,
      });
      const row = outcomes.find((o) => o.id === id)?.row;
      expect(row?.ticker).toBe(ticker);
    }
    expect(runtime.resources.registry.size).toBe(0);
  });

  it("enqueues an id once however often it is asked", async () => {
    const id = uniqueName("fixed").replaceAll("_", "-");
    const first = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: ["TCS"], model: "gemini-2.5-flash", id },
    );
    const second = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: ["TCS"], model: "gemini-2.5-flash", id },
    );
    expect(first[0]?.created).toBe(true);
    expect(second[0]?.created).toBe(false);
    const [outcome] = await waitFor([id]);
    expect(outcome?.row).toMatchObject({ status: "completed", runs: 1, llm_calls_count: 6 });
    const again = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: ["TCS"], model: "gemini-2.5-flash", id },
    );
    expect(again[0]).toMatchObject({ created: false, status: "completed" });
    expect(billedByServer(emulator.requestLog(), id).requests).toBe(6);
  });

  it("reports each stage's state while an analysis runs, counting the settled ones", async () => {
    // Progress goes out at most once a second: each stage takes longer than that here.
    const { slow, runtime } = await startSlowWorker(2, 1200);
    try {
      const [analysis] = await enqueueAnalyses(
        { sql: db.sql, queue },
        { tickers: ["TCS"], model: "gemini-2.5-flash" },
      );
      const id = analysis?.id ?? "";
      const seen: AnalysisProgress[] = [];
      const events = openTestQueue(config);
      try {
        await waitForAnalyses({
          sql: db.sql,
          queue,
          queueEvents: await events.queueEvents(),
          ids: [id],
          pollMs: 200,
          onProgress: (_, progress) => seen.push(progress),
        });
      } finally {
        await events.close();
      }
      expect(seen.length).toBeGreaterThan(0);
      for (const progress of seen) {
        const settled = Object.values(progress.stages).filter((s) => s !== "pending" && s !== "running");
        expect(progress).toMatchObject({ total: 6, done: settled.length });
      }
      // While final_decision runs, the five stages before it have settled.
      expect(seen).toContainEqual(
        expect.objectContaining({ done: 5, stages: expect.objectContaining({ final_decision: "running" }) }),
      );
    } finally {
      await runtime.close(10_000);
      await slow.close();
    }
  });

  it("drains in-flight analyses on shutdown before closing", async () => {
    const { slow, runtime } = await startSlowWorker(4);
    const [analysis] = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: ["INFY"], model: "gemini-2.5-flash" },
    );
    while (runtime.resources.registry.size === 0) await sleep(10);
    await runtime.close(10_000);
    expect(runtime.resources.registry.size).toBe(0);
    const [row] =
      await db.sql`SELECT status, llm_calls_count FROM stock_analyses WHERE id = ${analysis?.id ?? ""}`;
    expect(row).toMatchObject({ status: "completed", llm_calls_count: 6 });
    await slow.close();
  });
});
