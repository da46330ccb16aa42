import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { GeminiClient, type GenerateRequest, type GenerateResult } from "../../src/llm/gemini-client.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import { openTestQueue, testConfig } from "../helpers/services.js";
import { startEmulatedWorker, waitUntilEnded, workerTestEnv } from "../helpers/worker-test-env.js";

const WINDOW_MS = 4000;
const LIMIT = 12;
/** 8 analyses × 6 stages: a backlog of 48 requests, four windows' worth. */
const TICKERS = ["RELIANCE", "TCS", "INFY", "AAPL", "MSFT", "HDFCBANK", "RELIANCE", "TCS"];
/** The gap between admission and send a cold worker shows (marker commit, chart uploads). */
const COLD_SEND_DELAY_MS = 400;

/**
 * A worker's client whose first window of calls leaves COLD_SEND_DELAY_MS after the limiter
 * admitted them, and later calls at once: the start-up burst reaches the provider late while
 * the next window's burst does not, which is what packed one window at the server.
 */
class ColdStartClient extends GeminiClient {
  #firstCallAt: number | undefined;

  override async generate(request: GenerateRequest): Promise<GenerateResult> {
    this.#firstCallAt ??= performance.now();
    if (performance.now() - this.#firstCallAt < WINDOW_MS) await sleep(COLD_SEND_DELAY_MS);
    return super.generate(request);
  }
}

/** The most requests that arrived within any `windowMs` at the server. */
function busiestWindow(arrivals: number[], windowMs: number): number {
  const times = [...arrivals].sort((a, b) => a - b);
  let busiest = 0;
  let first = 0;
  for (let last = 0; last < times.length; last++) {
    while ((times[last] as number) - (times[first] as number) >= windowMs) first++;
    busiest = Math.max(busiest, last - first + 1);
  }
  return busiest;
}

// No quota at the emulator: every request is answered, so its log shows what we sent.
const files = workerTestEnv("sl-test-send-stamp", { latencyMs: 20 });

describe("shared rate limiter, counted at the server", () => {
  it("two workers with a slow start never put more than the quota in any window at the server", async () => {
    const { db, emulator, prefix } = files;
    const config = testConfig({
      DATABASE_URL: db.url,
      QUEUE_PREFIX: prefix,
      LLM_RPM: String(LIMIT),
      LLM_RATE_WINDOW_MS: String(WINDOW_MS),
    });
    // Two runtimes, each with its own limiter and connections, as two worker processes. The
    // limiter is the queue backend's (testConfig's QUEUE_BACKEND): Redis, or PostgreSQL.
    const workers: WorkerRuntime[] = [];
    for (let i = 0; i < 2; i++) {
      const client = new ColdStartClient({ apiKey: "test", baseUrl: emulator.url, timeoutMs: 15_000 });
      workers.push(await startEmulatedWorker(config, emulator, { concurrency: 4, client }));
    }
    const { queue, close } = openTestQueue(config);
    const enqueued = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: TICKERS, model: "gemini-2.5-flash" },
    );
    const ids = enqueued.map((a) => a.id);
    await waitUntilEnded(db.sql, ids, 60_000);
    await close();
    for (const w of workers) await w.close();

    const rows = await db.sql`SELECT status FROM stock_analyses WHERE id = ANY(${ids})`;
    expect(rows.map((r) => r.status)).toEqual(Array(TICKERS.length).fill("completed"));
    const sent = emulator.requestLog().filter((e) => e.method === "generateContent");
    expect(sent).toHaveLength(TICKERS.length * 6);
    const busiest = busiestWindow(
      sent.map((e) => Date.parse(e.at)),
      WINDOW_MS,
    );
    expect(busiest, "most requests in one window at the server").toBeLessThanOrEqual(LIMIT);
    expect(busiest).toBe(LIMIT); // the limiter used the quota, not less
  });
});
