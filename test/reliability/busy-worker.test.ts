import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { GeminiClient } from "../../src/llm/gemini-client.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import { startCli } from "../helpers/cli.js";
import { expectLedgerMatchesServer } from "../helpers/ledger-assertions.js";
import { openTestQueue, testConfig } from "../helpers/services.js";
import { startEmulatedWorker, waitUntilEnded, workerTestEnv } from "../helpers/worker-test-env.js";

/** Blocks this process' event loop, as a long synchronous computation or a GC pause would. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

const files = workerTestEnv("sl-test-busy", { latencyMs: 2500 });

describe("a worker whose event loop is busy for 2 s at a time, at the default WORKER_LOCK_MS", () => {
  it("keeps its jobs: a second worker watching the queue takes none of them, every analysis runs once", async () => {
    const { db, emulator, prefix } = files;
    const config = testConfig({ DATABASE_URL: db.url, QUEUE_PREFIX: prefix });
    expect(config.workerLockMs).toBe(10_000);
    const client = new GeminiClient({ apiKey: "test", baseUrl: emulator.url, timeoutMs: 15_000 });
    const busyWorker = await startEmulatedWorker(config, emulator, { concurrency: 8, client });
    const producer = openTestQueue(config);
    const events = await producer.queueEvents();
    const stalled: string[] = [];
    events.on("stalled", ({ jobId }) => stalled.push(jobId));
    let watcher: Awaited<ReturnType<typeof startCli>> | undefined;
    try {
      const enqueued = await enqueueAnalyses(
        { sql: db.sql, queue: producer.queue },
        {
          tickers: ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL", "MSFT", "TCS.NS", "INFY.NS"],
          model: "gemini-2.5-flash",
        },
      );
      const ids = enqueued.map((a) => a.id);
      for (;;) {
        const [row] =
          await db.sql`SELECT count(*)::int AS n FROM stock_analyses WHERE id = ANY(${ids}) AND status = 'running'`;
        if (row?.n === ids.length) break;
        await sleep(50);
      }
      // Another worker on the same queue, with its stalled-job checker running, ready to take
      // any job whose lock lapses.
      watcher = await startCli(
        ["worker"],
        {
          DATABASE_URL: db.url,
          QUEUE_PREFIX: prefix,
          QUEUE_BACKEND: config.queueBackend,
          GEMINI_BASE_URL: emulator.url,
          GEMINI_API_KEY: "test",
        },
        /worker ready/,
      );
      for (let i = 0; i < 3; i++) {
        busy(2_000);
        await sleep(1_500);
      }
      await waitUntilEnded(db.sql, ids, 60_000);
      const rows = await db.sql`SELECT status, runs FROM stock_analyses WHERE id = ANY(${ids})`;
      expect(rows.map((r) => [r.status, r.runs])).toEqual(Array(ids.length).fill(["completed", 1]));
      expect(stalled).toEqual([]);
      await expectLedgerMatchesServer(db.sql, ids, emulator.requestLog());
    } finally {
      await watcher?.stop("SIGTERM");
      await producer.close();
      await busyWorker.close(5_000);
    }
  });
});
