import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config/config.js";
import { logger } from "../../src/logger.js";
import type { AnalysisQueue } from "../../src/queue/analysis-queue.js";
import { cancelEnqueuedAnalysis } from "../../src/queue/cancel.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import type { BatchRow } from "../../src/store/batches-repo.js";
import type { LlmCallRow } from "../../src/store/calls-repo.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { openTestQueue, testConfig } from "../helpers/services.js";
import { startEmulatedWorker, waitUntilEnded, workerTestEnv } from "../helpers/worker-test-env.js";

// Long enough to cancel while the batch is pending, short enough to wait for its answers.
const env = workerTestEnv("sl-test-cancel-batch", { batchDelayMs: 3_000 });

let config: Config;
let queue: AnalysisQueue;
let closeQueue: () => Promise<void>;
let worker: WorkerRuntime;

beforeAll(async () => {
  config = testConfig({
    DATABASE_URL: env.db.url,
    QUEUE_PREFIX: env.prefix,
    GEMINI_BASE_URL: env.emulator.url,
    BATCH_COLLECT_MS: "300",
    BATCH_POLL_MIN_MS: "100",
    BATCH_POLL_MAX_MS: "300",
  });
  ({ queue, close: closeQueue } = openTestQueue(config));
  worker = await startEmulatedWorker(config, env.emulator, { concurrency: 2 });
});

afterAll(async () => {
  await worker?.close(1000);
  await closeQueue();
});

async function sharedBatch(ids: string[]): Promise<BatchRow> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [batch] = await env.db.sql<BatchRow[]>`
      SELECT b.* FROM llm_batches b
      WHERE b.name IS NOT NULL
        AND (SELECT count(DISTINCT r.analysis_id) FROM llm_batch_requests r
             WHERE r.batch_display_name = b.display_name AND r.analysis_id = ANY(${ids})) = ${ids.length}`;
    if (batch) return batch;
    if (Date.now() > deadline) throw new Error("the analyses' stages did not go out in one batch");
    await sleep(50);
  }
}

describe("cancelling an analysis that shares its batch", () => {
  it("leaves the batch to the other analysis, and its later calls are added to the cancelled one's totals", async () => {
    const enqueued = await enqueueAnalyses(
      { sql: env.db.sql, queue },
      { tickers: ["RELIANCE", "TCS"], model: "gemini-2.5-flash", batch: true },
    );
    const [cancelled, other] = enqueued.map((a) => a.id) as [string, string];
    const batch = await sharedBatch([cancelled, other]);

    const outcome = await cancelEnqueuedAnalysis({ sql: env.db.sql, queue, config, logger }, cancelled);
    expect(outcome).toMatchObject({
      withdrawnRequests: 0,
      cancelledBatches: 0,
      row: { id: cancelled, status: "failed", error: "cancelled", llm_calls_count: 0 },
    });
    expect(env.emulator.batches().find((b) => b.name === batch.name)?.state).toBe("BATCH_STATE_PENDING");
    expect(await queue.getJob(cancelled)).toBeUndefined();

    // The other analysis goes on to the end; its batch's ingest brings the cancelled one's calls.
    await waitUntilEnded(env.db.sql, [other], 60_000);
    expect(env.emulator.batches().find((b) => b.name === batch.name)?.state).toBe("BATCH_STATE_SUCCEEDED");
    const [done] = await env.db.sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ${other}`;
    expect(done?.status).toBe("completed");
    await expectTotalsMatchCalls(env.db.sql, other);

    const calls = await env.db.sql<LlmCallRow[]>`
      SELECT * FROM llm_calls WHERE analysis_id = ${cancelled} ORDER BY call_type`;
    // Its five stages were answered (and billed) in the shared batch; final_decision never asked.
    expect(calls).toHaveLength(5);
    expect(calls.every((c) => c.status === "success" && c.service_tier === "batch")).toBe(true);
    expect(calls.some((c) => c.call_type === "final_decision")).toBe(false);
    const [row] = await env.db.sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ${cancelled}`;
    expect(row).toMatchObject({
      status: "failed",
      error: "cancelled",
      llm_calls_count: 5,
      failed_calls_count: 0,
    });
    const sums = await expectTotalsMatchCalls(env.db.sql, cancelled);
    expect(sums.total).toBeGreaterThan(0);
    const costOfCalls = calls.reduce((sum, c) => sum + Number(c.cost_usd), 0);
    expect(Number(row?.cost_usd)).toBeCloseTo(costOfCalls, 10);
    expect(Object.keys(row?.token_usage_breakdown ?? {}).sort()).toEqual(
      calls.map((c) => c.call_type).sort(),
    );

    // The stats count what it was billed too (its ticker is its alone here).
    const [rollup] = await env.db.sql<{ calls: number; total_tokens: number }[]>`
      SELECT sum(calls)::int AS calls, sum(total_tokens)::int AS total_tokens FROM stats_rollups_live
      WHERE dimension = 'ticker' AND key = 'RELIANCE' AND grain = 'day'`;
    expect(rollup).toEqual({ calls: 5, total_tokens: sums.total });
  }, 90_000);
});
