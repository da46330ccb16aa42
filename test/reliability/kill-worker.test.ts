import { describe, expect, it } from "vitest";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import type { LlmCallRow } from "../../src/store/calls-repo.js";
import { startCli } from "../helpers/cli.js";
import { expectLedgerMatchesServer } from "../helpers/ledger-assertions.js";
import { openTestQueue, testConfig } from "../helpers/services.js";
import { waitUntil, workerProcessEnv } from "../helpers/worker-test-env.js";

const files = workerProcessEnv(
  "sl-test-kill",
  { latencyMs: 150, latencyJitterMs: 150 },
  { WORKER_CONCURRENCY: "10", WORKER_LOCK_MS: "2000", RECOVERY_INTERVAL_MS: "2000" },
);

describe("kill -9 of a worker in the middle of 20 analyses", () => {
  it("a new worker ends all 20 without re-requesting a recorded stage or double counting", async () => {
    const { env, db, emulator } = files;
    const { queue, close: closeQueue } = openTestQueue(testConfig(env));
    const tickers = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL"];
    const enqueued = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers: Array.from({ length: 20 }, (_, i) => tickers[i % 5] as string), model: "gemini-2.5-flash" },
    );
    await closeQueue();
    const ids = enqueued.map((a) => a.id);

    const doomed = await startCli(["worker"], env, /worker ready/);
    await waitUntil(async () => {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM llm_calls WHERE status = 'success'`;
      return (row?.n ?? 0) >= 40;
    }, "40 recorded calls");
    doomed.child.kill("SIGKILL");
    await doomed.stop("SIGKILL");
    const atKill = await db.sql<LlmCallRow[]>`SELECT * FROM llm_calls WHERE analysis_id = ANY(${ids})`;
    expect(atKill.some((c) => c.status === "success")).toBe(true);
    // Calls in flight at the kill left their start markers behind.
    expect(atKill.some((c) => c.status === "interrupted")).toBe(true);

    const rescuer = await startCli(["worker"], env, /worker ready/);
    await waitUntil(async () => {
      const [row] = await db.sql`SELECT count(*)::int AS n FROM stock_analyses
        WHERE id = ANY(${ids}) AND status IN ('completed', 'partial', 'failed')`;
      return row?.n === 20;
    }, "all 20 analyses to end");
    expect(await rescuer.stop("SIGTERM")).toBe(0);
    expect(rescuer.output()).toMatch(/"liveTrackers":0/);

    const rows = await db.sql`SELECT id, status, runs FROM stock_analyses WHERE id = ANY(${ids})`;
    expect(rows.map((r) => r.status)).toEqual(Array(20).fill("completed"));
    expect(rows.some((r) => r.runs >= 2)).toBe(true);
    await expectLedgerMatchesServer(db.sql, ids, emulator.requestLog());
    for (const id of ids) {
      const calls = await db.sql<LlmCallRow[]>`SELECT * FROM llm_calls WHERE analysis_id = ${id}`;
      // Every success that was stored before the kill is still there, unchanged.
      for (const before of atKill.filter((c) => c.analysis_id === id && c.status === "success")) {
        const after = calls.find((c) => c.call_type === before.call_type && c.attempt === before.attempt);
        expect(after).toMatchObject({ status: "success", total_tokens: before.total_tokens });
      }
    }
  });
});
