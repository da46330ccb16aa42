import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config/config.js";
import type { AnalysisQueue } from "../../src/queue/analysis-queue.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import type { BatchRow } from "../../src/store/batches-repo.js";
import type { LlmCallRow } from "../../src/store/calls-repo.js";
import { runCli } from "../helpers/cli.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { DATABASE_POOLING, openTestQueue, QUEUE_BACKEND, testConfig } from "../helpers/services.js";
import { startEmulatedWorker, workerTestEnv } from "../helpers/worker-test-env.js";

// Batches stay pending far longer than a test: only a cancel ends them.
const env = workerTestEnv("sl-test-cancel", { batchDelayMs: 120_000 });
const MODEL = "gemini-2.5-flash";

let queue: AnalysisQueue;
let closeQueue: () => Promise<void>;
let worker: WorkerRuntime | null = null;

const cliEnv = () => ({
  DATABASE_URL: env.db.url,
  QUEUE_PREFIX: env.prefix,
  QUEUE_BACKEND,
  DATABASE_POOLING,
  GEMINI_BASE_URL: env.emulator.url,
});

const workerConfig = (collectMs: number): Config =>
  testConfig({
    DATABASE_URL: env.db.url,
    QUEUE_PREFIX: env.prefix,
    BATCH_COLLECT_MS: String(collectMs),
    BATCH_POLL_MIN_MS: "100",
    BATCH_POLL_MAX_MS: "300",
  });

beforeAll(() => {
  ({ queue, close: closeQueue } = openTestQueue(workerConfig(100)));
});

afterEach(async () => {
  await worker?.close(1000);
  worker = null;
});

afterAll(async () => {
  await closeQueue();
});

async function enqueue(ticker: string, options: { batch?: boolean } = {}): Promise<string> {
  const [analysis] = await enqueueAnalyses(
    { sql: env.db.sql, queue },
    { tickers: [ticker], model: MODEL, batch: options.batch ?? false },
  );
  return analysis?.id as string;
}

const analysisRow = async (id: string) =>
  (await env.db.sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ${id}`)[0];
const callsOf = (id: string) =>
  env.db.sql<LlmCallRow[]>`SELECT * FROM llm_calls WHERE analysis_id = ${id} ORDER BY call_type, attempt`;

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The analysis waits (delayed job, lease free) with its requests in a batch of the provider. */
const sentBatchOf = (id: string) =>
  waitFor(`the batch of ${id}`, async () => {
    const [batch] = await env.db.sql<BatchRow[]>`
      SELECT b.* FROM llm_batches b JOIN llm_batch_requests r ON r.batch_display_name = b.display_name
      WHERE r.analysis_id = ${id} AND b.name IS NOT NULL LIMIT 1`;
    return batch;
  });

describe("stock-ledger cancel", () => {
  it("cancels a queued analysis: failed/cancelled, its job gone, no calls", async () => {
    const id = await enqueue("RELIANCE");
    expect(await queue.getJob(id)).toBeDefined();

    const result = await runCli(["cancel", id], cliEnv());
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `RELIANCE ${id} cancelled (0 batch requests withdrawn, 0 batches cancelled)\n`,
    );

    expect(await analysisRow(id)).toMatchObject({
      status: "failed",
      error: "cancelled",
      llm_calls_count: 0,
      total_tokens: 0,
      lease_owner: null,
    });
    expect(await queue.getJob(id)).toBeUndefined();
    expect(await callsOf(id)).toEqual([]);
  });

  it("prints JSON with --json", async () => {
    const id = await enqueue("TCS");
    const result = await runCli(["cancel", id, "--json"], cliEnv());
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      id,
      status: "failed",
      withdrawn_requests: 0,
      cancelled_batches: 0,
    });
  });

  it("refuses an ended analysis, an unknown one (exit 1) and a bad id (exit 2)", async () => {
    const id = await enqueue("INFY");
    expect((await runCli(["cancel", id], cliEnv())).code).toBe(0);

    const again = await runCli(["cancel", id], cliEnv());
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`stock-ledger: analysis ${id} already ended (status failed)\n`);
    expect(again.stdout).toBe("");

    const unknown = await runCli(["cancel", "an_missing"], cliEnv());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("stock-ledger: analysis an_missing not found\n");

    const bad = await runCli(["cancel", "../x"], cliEnv());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^stock-ledger: invalid analysis id "\.\.\/x": must/);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("refuses, after a few seconds, an analysis a run holds; the run keeps it", async () => {
    const id = await enqueue("HDFCBANK");
    await env.db.sql`
      UPDATE stock_analyses SET status = 'running', lease_owner = 'a-worker-run',
        lease_expires_at = now() + interval '1 minute'
      WHERE id = ${id}`;
    const started = Date.now();
    const result = await runCli(["cancel", id], cliEnv());
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `stock-ledger: analysis ${id} is running (a worker holds it); it cannot be cancelled now\n`,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
    expect(await analysisRow(id)).toMatchObject({ status: "running", lease_owner: "a-worker-run" });
    expect(await queue.getJob(id)).toBeDefined();
    // Left to no worker: the later tests run one.
    await (await queue.getJob(id))?.remove();
  });

  it("a batch analysis whose batch is pending alone: the batch is cancelled, its requests end batch_cancelled", async () => {
    worker = await startEmulatedWorker(workerConfig(100), env.emulator, { concurrency: 2 });
    const id = await enqueue("RELIANCE", { batch: true });
    const batch = await sentBatchOf(id);
    expect(env.emulator.batches().find((b) => b.name === batch.name)?.state).toBe("BATCH_STATE_PENDING");

    const result = await runCli(["cancel", id], cliEnv());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`RELIANCE ${id} cancelled (0 batch requests withdrawn, 1 batch cancelled)\n`);

    expect(env.emulator.batches().find((b) => b.name === batch.name)?.state).toBe("BATCH_STATE_CANCELLED");
    const [stored] = await env.db.sql<BatchRow[]>`
      SELECT * FROM llm_batches WHERE display_name = ${batch.display_name}`;
    expect(stored).toMatchObject({ state: "cancelled" });
    expect(stored?.ingested_at).not.toBeNull();

    // The five stages were sent and never answered: five failed rows, nothing billed.
    const calls = await callsOf(id);
    expect(calls).toHaveLength(5);
    expect(calls.every((c) => c.status === "failure" && c.error_type === "batch_cancelled")).toBe(true);
    expect(await analysisRow(id)).toMatchObject({
      status: "failed",
      error: "cancelled",
      llm_calls_count: 5,
      failed_calls_count: 5,
    });
    await expectTotalsMatchCalls(env.db.sql, id);
    expect(await queue.getJob(id)).toBeUndefined();

    // The worker asks nothing more for it.
    await sleep(800);
    expect(await callsOf(id)).toHaveLength(5);
    expect((await analysisRow(id))?.status).toBe("failed");
  }, 60_000);

  it("a batch analysis whose requests were not sent yet: they are withdrawn, no batch is made", async () => {
    // Requests gather for a minute before a batch is sent: the cancel comes first.
    worker = await startEmulatedWorker(workerConfig(60_000), env.emulator, { concurrency: 2 });
    const id = await enqueue("TCS", { batch: true });
    await waitFor("its queued requests", async () => {
      const [row] = await env.db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM llm_batch_requests WHERE analysis_id = ${id}`;
      return row?.n === 5;
    });

    const result = await runCli(["cancel", id, "--json"], cliEnv());
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      id,
      status: "failed",
      withdrawn_requests: 5,
      cancelled_batches: 0,
    });
    const [left] = await env.db.sql<{ requests: number; holds: number }[]>`
      SELECT (SELECT count(*)::int FROM llm_batch_requests WHERE analysis_id = ${id}) AS requests,
             (SELECT count(*)::int FROM spend_reservations WHERE analysis_id = ${id}) AS holds`;
    expect(left).toEqual({ requests: 0, holds: 0 });
    expect(await callsOf(id)).toEqual([]);
    expect(await analysisRow(id)).toMatchObject({ status: "failed", error: "cancelled", llm_calls_count: 0 });
  }, 60_000);
});
