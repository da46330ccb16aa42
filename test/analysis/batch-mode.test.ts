import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { BatchDeps } from "../../src/analysis/batch/batch-deps.js";
import { pollBatch, pollOrphanedBatches } from "../../src/analysis/batch/batch-poller.js";
import { requestKey } from "../../src/analysis/batch/batch-responses.js";
import { splitBySize, submitWaitingRequests } from "../../src/analysis/batch/batch-submitter.js";
import type { Config } from "../../src/config/config.js";
import { priceCall } from "../../src/ledger/pricing.js";
import { usageFromMetadata } from "../../src/ledger/usage.js";
import type { RequestLogEntry } from "../../src/llm/emulator/index.js";
import { GeminiClient } from "../../src/llm/gemini-client.js";
import { logger } from "../../src/logger.js";
import type { AnalysisQueue } from "../../src/queue/analysis-queue.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import { insertQueuedAnalysis } from "../../src/store/analyses-repo.js";
import {
  assignWaitingRequests,
  type BatchRow,
  batchRequestsOf,
  queueBatchRequests,
} from "../../src/store/batches-repo.js";
import type { LlmCallRow } from "../../src/store/calls-repo.js";
import { billedByServer, expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { openTestQueue, testConfig } from "../helpers/services.js";
import { startEmulatedWorker, waitUntilEnded, workerTestEnv } from "../helpers/worker-test-env.js";

const env = workerTestEnv("sl-test-batch", { batchDelayMs: 600 });
const MODEL = "gemini-2.5-flash";
const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL"];

let config: Config;
let queue: AnalysisQueue;
let closeQueue: () => Promise<void>;
let worker: WorkerRuntime | null = null;

beforeAll(() => {
  config = testConfig({
    DATABASE_URL: env.db.url,
    QUEUE_PREFIX: env.prefix,
    BATCH_COLLECT_MS: "300",
    BATCH_POLL_MIN_MS: "100",
    BATCH_POLL_MAX_MS: "400",
  });
  ({ queue, close: closeQueue } = openTestQueue(config));
});

afterEach(async () => {
  await worker?.close(1000);
  worker = null;
  env.emulator.setFaults([]);
  env.emulator.setBatchOutcome("succeeded");
});

afterAll(async () => {
  await closeQueue();
});

async function runBatchAnalyses(
  count: number,
  options: { concurrency?: number; batchFallback?: "none" | "sync"; maxTokens?: number } = {},
) {
  worker ??= await startEmulatedWorker(config, env.emulator, { concurrency: options.concurrency ?? 2 });
  const enqueued = await enqueueAnalyses(
    { sql: env.db.sql, queue },
    {
      tickers: Array.from({ length: count }, (_, i) => TICKERS[i % TICKERS.length] as string),
      model: MODEL,
      batch: true,
      batchFallback: options.batchFallback,
      maxTokens: options.maxTokens,
    },
  );
  const ids = enqueued.map((a) => a.id);
  await waitUntilEnded(env.db.sql, ids, 60_000);
  return ids;
}

const callsOf = (ids: string[]) =>
  env.db.sql<
    LlmCallRow[]
  >`SELECT * FROM llm_calls WHERE analysis_id = ANY(${ids}) ORDER BY analysis_id, call_type, attempt`;

const servedFor = (ids: string[]): RequestLogEntry[] =>
  env.emulator
    .requestLog()
    .filter((e) => e.method === "generateContent" && e.analysisId !== null && ids.includes(e.analysisId));

describe("batch mode against a Gemini-protocol server", () => {
  it("20 analyses: totals are the sums of the usage in their batch responses, priced at the batch rates", async () => {
    const before = new Set(env.emulator.batches().map((b) => b.name));
    const ids = await runBatchAnalyses(20, { concurrency: 2 });

    const rows = await env.db.sql<{ id: string; status: string; cost_usd: string; runs: number }[]>`
      SELECT id, status, cost_usd, runs FROM stock_analyses WHERE id = ANY(${ids})`;
    expect(rows.map((r) => r.status)).toEqual(ids.map(() => "completed"));
    // Coming back for each phase is one run going on, not a restart.
    expect(rows.every((r) => r.runs === 1)).toBe(true);

    const served = servedFor(ids);
    // Every call went through a batch: none was made live.
    expect(served.every((e) => e.batch !== null)).toBe(true);
    for (const id of ids) {
      const sums = await expectTotalsMatchCalls(env.db.sql, id);
      const billed = billedByServer(served, id);
      expect(billed.requests).toBe(6);
      expect({
        input: sums.input,
        output: sums.output,
        thinking: sums.thinking,
        cached: sums.cached,
      }).toEqual({
        input: billed.input,
        output: billed.output,
        thinking: billed.thinking,
        cached: billed.cached,
      });
    }

    const calls = await callsOf(ids);
    expect(calls).toHaveLength(120);
    for (const call of calls) {
      expect(call.service_tier).toBe("batch");
      expect(call.price_tier).toBe("batch");
      const usage = usageFromMetadata(call.raw_usage as Record<string, unknown>);
      const atBatch = priceCall(MODEL, usage, call.started_at, undefined, "batch");
      const atStandard = priceCall(MODEL, usage, call.started_at);
      expect(Number(call.cost_usd)).toBeCloseTo(Number(atBatch.costPico) / 1e12, 12);
      expect(atBatch.costPico).not.toBeNull();
      // Half price on input and output; cached reads keep their rate.
      if (usage.cachedInputTokens === 0) expect((atBatch.costPico ?? 0n) * 2n).toBe(atStandard.costPico);
    }
    for (const row of rows) {
      const sum = calls.filter((c) => c.analysis_id === row.id).reduce((s, c) => s + Number(c.cost_usd), 0);
      expect(Number(row.cost_usd)).toBeCloseTo(sum, 10);
    }

    // Each batch was created once; the five stages of many analyses shared a batch (a waiting
    // analysis held no worker slot: with 2 slots, far more than 2 analyses' stages went together).
    const batches = env.emulator.batches().filter((b) => !before.has(b.name));
    expect(batches.every((b) => b.createCount === 1)).toBe(true);
    const stored = await env.db.sql<BatchRow[]>`SELECT * FROM llm_batches`;
    expect(stored.filter((b) => batches.some((e) => e.name === b.name))).toHaveLength(batches.length);
    expect(Math.max(...batches.map((b) => b.requestCount))).toBeGreaterThan(10);
    expect(batches.length).toBeLessThanOrEqual(10);
    // Each analysis' final_decision went in a later batch than its five stages (a batch may
    // hold one analysis' final beside another's stages: it takes every request waiting then).
    const placed = await env.db.sql<{ analysis_id: string; call_type: string; created_at: Date }[]>`
      SELECT r.analysis_id, r.call_type, b.created_at FROM llm_batch_requests r
      JOIN llm_batches b ON b.display_name = r.batch_display_name WHERE r.analysis_id = ANY(${ids})`;
    for (const id of ids) {
      const own = placed.filter((p) => p.analysis_id === id);
      const final = own.find((p) => p.call_type === "final_decision");
      const stages = own.filter((p) => p.call_type !== "final_decision");
      expect(stages).toHaveLength(5);
      for (const stage of stages)
        expect(final?.created_at.getTime()).toBeGreaterThan(stage.created_at.getTime());
    }
    // Bodies are dropped once their answers are in.
    const [kept] = await env.db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM llm_batch_requests WHERE request IS NOT NULL`;
    expect(kept?.n).toBe(0);
  }, 90_000);

  it("a request the batch reports failed is a failed row; the stage fails without a fallback", async () => {
    env.emulator.setFaults([{ kind: "server_error", callType: "volume_analysis" }]);
    const [id] = await runBatchAnalyses(1);
    const calls = await callsOf([id as string]);
    const volume = calls.filter((c) => c.call_type === "volume_analysis");
    expect(volume).toHaveLength(1);
    expect(volume[0]).toMatchObject({ status: "failure", service_tier: "batch", error_type: "server_error" });
    expect(volume[0]?.error_message).toMatch(/batch request failed/);
    const [row] = await env.db.sql`SELECT status, error FROM stock_analyses WHERE id = ${id as string}`;
    expect(row).toMatchObject({ status: "partial", error: "stages failed: volume_analysis" });
    await expectTotalsMatchCalls(env.db.sql, id as string);
  }, 60_000);

  it("with --batch-fallback sync, a failed batch request is asked again synchronously at the standard price", async () => {
    env.emulator.setFaults([{ kind: "server_error", callType: "volume_analysis", times: 1 }]);
    const [id] = await runBatchAnalyses(1, { batchFallback: "sync" });
    const volume = (await callsOf([id as string])).filter((c) => c.call_type === "volume_analysis");
    expect(volume.map((c) => [c.attempt, c.status, c.service_tier, c.price_tier])).toEqual([
      [1, "failure", "batch", "batch"],
      [2, "success", "standard", "standard"],
    ]);
    const [row] = await env.db.sql`SELECT status FROM stock_analyses WHERE id = ${id as string}`;
    expect(row?.status).toBe("completed");
    await expectTotalsMatchCalls(env.db.sql, id as string);
  }, 60_000);

  it("an expired batch ends its stages failed (batch_expired), or runs them synchronously with the fallback", async () => {
    env.emulator.setBatchOutcome("expired");
    const [failed] = await runBatchAnalyses(1);
    const expired = await callsOf([failed as string]);
    expect(expired.length).toBeGreaterThanOrEqual(5);
    expect(
      expired.every(
        (c) => c.status === "failure" && c.error_type === "batch_expired" && c.total_tokens === 0,
      ),
    ).toBe(true);
    const [row] = await env.db.sql`SELECT status FROM stock_analyses WHERE id = ${failed as string}`;
    expect(row?.status).toBe("failed");
    await expectTotalsMatchCalls(env.db.sql, failed as string);

    const [rescued] = await runBatchAnalyses(1, { batchFallback: "sync" });
    const calls = await callsOf([rescued as string]);
    // The five stages' batch expired, then final_decision's: each was asked again live.
    expect(calls.filter((c) => c.error_type === "batch_expired")).toHaveLength(6);
    expect(calls.filter((c) => c.status === "success" && c.service_tier === "standard")).toHaveLength(6);
    const [done] = await env.db.sql`SELECT status FROM stock_analyses WHERE id = ${rescued as string}`;
    expect(done?.status).toBe("completed");
    await expectTotalsMatchCalls(env.db.sql, rescued as string);
  }, 90_000);

  it("a batch that fails as a whole ends each request failed with the batch's error", async () => {
    env.emulator.setBatchOutcome("failed");
    const [id] = await runBatchAnalyses(1);
    const calls = await callsOf([id as string]);
    expect(calls.length).toBeGreaterThanOrEqual(5);
    for (const call of calls) {
      expect(call).toMatchObject({
        status: "failure",
        service_tier: "batch",
        error_type: "server_error",
        total_tokens: 0,
      });
      expect(call.error_message).toMatch(/^batch failed: /);
    }
    const [row] = await env.db.sql`SELECT status FROM stock_analyses WHERE id = ${id as string}`;
    expect(row?.status).toBe("failed");
    const [batch] = await env.db.sql<BatchRow[]>`
      SELECT b.* FROM llm_batches b JOIN llm_batch_requests r ON r.batch_display_name = b.display_name
      WHERE r.analysis_id = ${id as string} LIMIT 1`;
    expect(batch).toMatchObject({ state: "failed" });
    expect(batch?.error).toBeTruthy();
    await expectTotalsMatchCalls(env.db.sql, id as string);
  }, 60_000);

  it("under --max-tokens, queued requests reserve their worst case: the analysis never passes its cap", async () => {
    const [id] = await runBatchAnalyses(1, { maxTokens: 8_000 });
    const [row] = await env.db
      .sql`SELECT status, total_tokens FROM stock_analyses WHERE id = ${id as string}`;
    expect(row?.status).toBe("budget_exceeded");
    expect(row?.total_tokens).toBeLessThanOrEqual(8_000);
    const calls = await callsOf([id as string]);
    expect(calls.every((c) => c.reserved_tokens !== null && c.total_tokens <= (c.reserved_tokens ?? 0))).toBe(
      true,
    );
    await expectTotalsMatchCalls(env.db.sql, id as string);
  }, 60_000);
});

describe("batches are never submitted twice", () => {
  const deps = (): BatchDeps => ({
    sql: env.db.sql,
    llm: new GeminiClient({ apiKey: "test", baseUrl: env.emulator.url, timeoutMs: 5000 }),
    logger,
    batchSettings: { collectMs: 0, pollMinMs: 10, pollMaxMs: 50 },
    createTimeoutMs: 1000,
  });

  async function waitingRequests(count: number): Promise<{ ids: string[] }> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = `an_batchrecover_${Date.now().toString(36)}_${i}`;
      await insertQueuedAnalysis(env.db.sql, { id, ticker: "TCS", model: MODEL, batch: true });
      ids.push(id);
    }
    await queueBatchRequests(
      env.db.sql,
      ids.map((id) => ({
        analysis_id: id,
        call_type: "indicator_summary",
        attempt: 1,
        model: MODEL,
        request: {
          contents: [
            { role: "user", parts: [{ text: `Summarise the indicators of TCS ${"x".repeat(400)}` }] },
          ],
        },
        request_bytes: 500,
        input_chars: 450,
        input_hash: null,
        reserved_tokens: null,
      })),
    );
    return { ids };
  }

  const sentWith = (displayName: string) =>
    env.emulator
      .requestLog()
      .filter((e) => e.method === "batchGenerateContent" && e.batchDisplayName === displayName);

  it("a crash between create and storing the name: the batch is found by its display name, not sent again", async () => {
    const d = deps();
    const { ids } = await waitingRequests(2);
    const [assigned] = await assignWaitingRequests(env.db.sql, MODEL, (waiting) => [
      {
        displayName: `stock-ledger-crash-${Date.now()}`,
        requests: waiting.filter((r) => ids.includes(r.analysis_id)),
      },
    ]);
    const { batch } = assigned as { batch: BatchRow };
    const requests = await batchRequestsOf(env.db.sql, batch.display_name);
    // Sent, then the worker died before storing the name.
    await d.llm.batches.create({
      model: MODEL,
      displayName: batch.display_name,
      items: requests.map((r) => ({ key: requestKey(r), body: r.request ?? {} })),
    });
    await env.db
      .sql`UPDATE llm_batches SET created_at = now() - interval '10 minutes' WHERE display_name = ${batch.display_name}`;

    // The next poll finds it; later polls read its answers.
    for (let i = 0; i < 100; i++) {
      if ((await pollBatch(d, batch.display_name)) === "ingested") break;
      await env.db
        .sql`UPDATE llm_batches SET next_poll_at = now() WHERE display_name = ${batch.display_name}`;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(sentWith(batch.display_name)).toHaveLength(1);
    const calls = await callsOf(ids);
    expect(calls.map((c) => [c.status, c.service_tier])).toEqual([
      ["success", "batch"],
      ["success", "batch"],
    ]);
  }, 30_000);

  it("a batch stored but never sent is sent once, by the next poll after the create timeout", async () => {
    const d = deps();
    const { ids } = await waitingRequests(1);
    const [assigned] = await assignWaitingRequests(env.db.sql, MODEL, (waiting) => [
      {
        displayName: `stock-ledger-unsent-${Date.now()}`,
        requests: waiting.filter((r) => ids.includes(r.analysis_id)),
      },
    ]);
    const { batch } = assigned as { batch: BatchRow };
    // Within the create timeout another worker may be creating it: the poll leaves it alone.
    expect(await pollBatch(d, batch.display_name)).toBe("waiting");
    expect(sentWith(batch.display_name)).toHaveLength(0);
    await env.db.sql`UPDATE llm_batches SET created_at = now() - interval '10 minutes', next_poll_at = now()
      WHERE display_name = ${batch.display_name}`;
    expect(await pollBatch(d, batch.display_name)).toBe("waiting");
    expect(sentWith(batch.display_name)).toHaveLength(1);
    const [row] = await env.db.sql<
      BatchRow[]
    >`SELECT * FROM llm_batches WHERE display_name = ${batch.display_name}`;
    expect(row?.name).toMatch(/^batches\//);
  }, 30_000);

  it("a batch no job polls (its analyses' jobs lost) is polled by the recovery sweep once overdue", async () => {
    const d = deps();
    const { ids } = await waitingRequests(2);
    await submitWaitingRequests(d, MODEL);
    const overdue = () => env.db.sql`UPDATE llm_batches SET next_poll_at = now() - interval '2 minutes'
      WHERE ingested_at IS NULL AND display_name IN (SELECT batch_display_name FROM llm_batch_requests
                                                    WHERE analysis_id = ANY(${ids}))`;
    for (let i = 0; i < 100 && (await callsOf(ids)).length < 2; i++) {
      await overdue();
      await pollOrphanedBatches(d);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await callsOf(ids)).map((c) => c.status)).toEqual(["success", "success"]);
    // A batch polled on time is its jobs' to poll: the sweep leaves it alone.
    expect(await pollOrphanedBatches(d)).toBe(0);
  }, 30_000);

  it("requests over the size limit go in several batches, each within it", async () => {
    const d = deps();
    const { ids } = await waitingRequests(5);
    const before = env.emulator.batches().length;
    await submitWaitingRequests(d, MODEL, 1_200);
    const made = await env.db.sql<{ display_name: string; request_count: number; request_bytes: string }[]>`
      SELECT b.display_name, b.request_count, b.request_bytes FROM llm_batches b
      WHERE EXISTS (SELECT 1 FROM llm_batch_requests r WHERE r.batch_display_name = b.display_name
                    AND r.analysis_id = ANY(${ids}))`;
    expect(made.map((b) => b.request_count).sort()).toEqual([1, 2, 2]);
    expect(made.every((b) => Number(b.request_bytes) <= 1_200)).toBe(true);
    expect(env.emulator.batches().length - before).toBe(3);
    expect(splitBySize([], 10)).toEqual([]);
  }, 30_000);
});
