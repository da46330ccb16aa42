import { describe, expect, it } from "vitest";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import { openTestQueue, testConfig } from "../helpers/services.js";
import { startEmulatedWorker, waitUntilEnded, workerTestEnv } from "../helpers/worker-test-env.js";

const WINDOW_MS = 4000;
const LIMIT = 12;

// The provider allows LIMIT requests per window and answers 429 beyond it.
const files = workerTestEnv("sl-test-rate", { latencyMs: 20, rpmLimit: LIMIT, rpmWindowMs: WINDOW_MS });

describe("shared rate limiter across workers", () => {
  it("three workers together never send more than the quota in any window, and all analyses complete", async () => {
    const { db, emulator, prefix } = files;
    const config = testConfig({
      DATABASE_URL: db.url,
      QUEUE_PREFIX: prefix,
      LLM_RPM: String(LIMIT),
      // A little slack over the provider's window, as a user would configure it: on this
      // 2-core machine under test load, requests can reach the server a few hundred ms late.
      LLM_RATE_WINDOW_MS: String(WINDOW_MS + 500),
    });
    const workers: WorkerRuntime[] = [];
    for (let i = 0; i < 3; i++) workers.push(await startEmulatedWorker(config, emulator, { concurrency: 4 }));
    const { queue, close } = openTestQueue(config);
    const enqueued = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: ["RELIANCE", "TCS", "INFY", "AAPL"], model: "gemini-2.5-flash" },
    );
    const ids = enqueued.map((a) => a.id);
    await waitUntilEnded(db.sql, ids, 60_000);
    await close();
    for (const w of workers) await w.close();

    const rows = await db.sql`SELECT status FROM stock_analyses WHERE id = ANY(${ids})`;
    expect(rows.map((r) => r.status)).toEqual(Array(4).fill("completed"));
    const sent = emulator.requestLog().filter((e) => e.method === "generateContent");
    expect(sent.map((e) => [e.callType, e.attempt, e.status, e.fault])).toHaveLength(24);
    expect(sent.filter((e) => e.status === 429)).toEqual([]);
    const times = sent.map((e) => Date.parse(e.at)).sort((a, b) => a - b);
    const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + WINDOW_MS).length));
    expect(busiest).toBeLessThanOrEqual(LIMIT);
    expect(busiest).toBe(LIMIT); // the limiter used the quota, not less
  });
});
