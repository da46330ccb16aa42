import { describe, expect, it } from "vitest";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import { startCli } from "../helpers/cli.js";
import { billedByServer, expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { openTestQueue, testConfig } from "../helpers/services.js";
import { waitUntil, workerProcessEnv } from "../helpers/worker-test-env.js";

// Each batch takes long enough that the worker is killed while it is still pending.
const files = workerProcessEnv(
  "sl-test-kill-batch",
  { batchDelayMs: 4000 },
  {
    CHARTS: "off",
    WORKER_CONCURRENCY: "4",
    WORKER_LOCK_MS: "2000",
    RECOVERY_INTERVAL_MS: "2000",
    BATCH_COLLECT_MS: "300",
    BATCH_POLL_MIN_MS: "200",
    BATCH_POLL_MAX_MS: "800",
  },
);

describe("kill -9 of a worker while a batch is pending", () => {
  it("a new worker polls the same batch: every analysis completes, each batch created once", async () => {
    const { env, db, emulator } = files;
    const { queue, close: closeQueue } = openTestQueue(testConfig(env));
    const tickers = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL"];
    const enqueued = await enqueueAnalyses(
      { sql: db.sql, queue },
      {
        tickers: Array.from({ length: 10 }, (_, i) => tickers[i % 5] as string),
        model: "gemini-2.5-flash",
        batch: true,
      },
    );
    await closeQueue();
    const ids = enqueued.map((a) => a.id);

    const doomed = await startCli(["worker"], env, /worker ready/);
    await waitUntil(async () => {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM llm_batches WHERE name IS NOT NULL`;
      return (row?.n ?? 0) >= 1;
    }, "a submitted batch");
    doomed.child.kill("SIGKILL");
    await doomed.stop("SIGKILL");
    const [atKill] = await db.sql`SELECT count(*)::int AS n FROM llm_calls WHERE analysis_id = ANY(${ids})`;
    expect(atKill?.n).toBe(0);
    expect(emulator.batches().every((b) => !b.state.endsWith("SUCCEEDED"))).toBe(true);

    const rescuer = await startCli(["worker"], env, /worker ready/);
    await waitUntil(async () => {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM stock_analyses
        WHERE id = ANY(${ids}) AND status NOT IN ('queued', 'running')`;
      return row?.n === ids.length;
    }, "all analyses to end");
    expect(await rescuer.stop("SIGTERM")).toBe(0);

    const rows = await db.sql`SELECT id, status FROM stock_analyses WHERE id = ANY(${ids})`;
    expect(rows.map((r) => r.status)).toEqual(ids.map(() => "completed"));
    const batches = emulator.batches();
    expect(batches.every((b) => b.createCount === 1)).toBe(true);
    const [stored] = await db.sql`SELECT count(*)::int AS n FROM llm_batches`;
    expect(batches).toHaveLength(stored?.n ?? -1);
    const served = emulator.requestLog().filter((e) => e.method === "generateContent");
    for (const id of ids) {
      const sums = await expectTotalsMatchCalls(db.sql, id);
      const billed = billedByServer(served, id);
      expect(billed.requests).toBe(6);
      expect(sums.calls).toBe(6);
      expect(sums.total).toBe(billed.total);
    }
  }, 120_000);
});
