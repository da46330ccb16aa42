import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AnalysisBusyError, executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { AnalysisInterruptedError } from "../../src/analysis/pipeline.js";
import { CALL_TYPES } from "../../src/ledger/call-record.js";
import { TrackerRegistry } from "../../src/ledger/tracker-registry.js";
import { listCalls } from "../../src/store/calls-repo.js";
import { billedByServer, expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

let h: PipelineHarness;

beforeAll(async () => {
  h = await createPipelineHarness({ timeoutMs: 1500 });
});
afterAll(() => h.close());
beforeEach(() => h.emulator.setFaults([]));

async function run(ticker = "RELIANCE") {
  const id = await h.queue(ticker);
  const row = await executeAnalysis(id, h.deps);
  if (!row) throw new Error("analysis did not run");
  return { id, row, calls: await listCalls(h.db.sql, id) };
}

describe("runAnalysis against the Gemini-protocol emulator", () => {
  it("records six calls whose totals equal what the server billed", async () => {
    const { id, row, calls } = await run("TCS");
    expect(row.status).toBe("completed");
    expect(Object.keys(row.token_usage_breakdown).sort()).toEqual([...CALL_TYPES].sort());
    expect(calls).toHaveLength(6);
    expect(calls.every((c) => c.status === "success" && c.usage_source === "provider")).toBe(true);
    const sums = await expectTotalsMatchCalls(h.db.sql, id);
    const billed = billedByServer(h.emulator.requestLog(), id);
    expect(billed.requests).toBe(6);
    expect(sums).toMatchObject({
      input: billed.input,
      output: billed.output,
      thinking: billed.thinking,
      cached: billed.cached,
      total: billed.total,
    });
    expect(sums.thinking).toBeGreaterThan(0);
    expect(row.decision).toMatchObject({ action: expect.stringMatching(/^(BUY|SELL|HOLD)$/) });
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
    expect(row.market_data_source).toMatch(/synthetic/);
    expect(h.deps.registry.size).toBe(0);
  });

  it("fails an unknown ticker before any LLM call", async () => {
    const { id, row, calls } = await run("NOSUCHCO");
    expect(row).toMatchObject({ status: "failed", error: "no market data for NOSUCHCO", llm_calls_count: 0 });
    expect(calls).toHaveLength(0);
    expect(h.emulator.requestLog().filter((e) => e.analysisId === id)).toHaveLength(0);
  });

  it("retries a 429 and records both attempts with the error", async () => {
    h.emulator.setFaults([
      { kind: "rate_limited", callType: "indicator_summary", attempt: 1, retryDelaySeconds: 0.05 },
    ]);
    const { id, row, calls } = await run();
    expect(row.status).toBe("completed");
    const indicator = calls.filter((c) => c.call_type === "indicator_summary");
    expect(indicator.map((c) => [c.attempt, c.status, c.error_type])).toEqual([
      [1, "failure", "rate_limited"],
      [2, "success", null],
    ]);
    expect(indicator[0]).toMatchObject({ input_tokens: 0, usage_source: "none" });
    expect(row.token_usage_breakdown.indicator_summary).toMatchObject({
      calls: 2,
      successful_calls: 1,
      failed_calls: 1,
      errors: [{ attempt: 1, type: "rate_limited" }],
    });
    expect(row).toMatchObject({ llm_calls_count: 7, failed_calls_count: 1 });
    await expectTotalsMatchCalls(h.db.sql, id);
  });

  it("keeps the billed tokens of a final_decision that broke its schema, and retries it", async () => {
    h.emulator.setFaults([{ kind: "bad_schema", callType: "final_decision", attempt: 1 }]);
    const { id, row, calls } = await run();
    expect(row.status).toBe("completed");
    const [bad, good] = calls.filter((c) => c.call_type === "final_decision");
    expect(bad).toMatchObject({
      status: "failure",
      error_type: "malformed_output",
      usage_source: "provider",
    });
    expect(bad?.input_tokens).toBeGreaterThan(0);
    expect(bad?.output_tokens).toBeGreaterThan(0);
    expect(good).toMatchObject({ attempt: 2, status: "success" });
    const billed = billedByServer(h.emulator.requestLog(), id);
    expect((await expectTotalsMatchCalls(h.db.sql, id)).total).toBe(billed.total);
  });

  it("ends partial when a stage fails after its retries, and still decides", async () => {
    h.emulator.setFaults([{ kind: "server_error", callType: "volume_analysis" }]);
    const { id, row, calls } = await run();
    expect(row.status).toBe("partial");
    expect(row.error).toBe("stages failed: volume_analysis");
    expect(calls.filter((c) => c.call_type === "volume_analysis").map((c) => c.error_type)).toEqual([
      "server_error",
      "server_error",
      "server_error",
    ]);
    expect(row.decision).not.toBeNull();
    await expectTotalsMatchCalls(h.db.sql, id);
  });

  it("fails fast on an invalid key and ends failed when final_decision fails", async () => {
    h.emulator.setFaults([{ kind: "auth", callType: "final_decision" }]);
    const { row, calls } = await run();
    expect(row.status).toBe("failed");
    expect(row.error).toMatch(/^final_decision failed: auth: HTTP 400: API key not valid/);
    expect(calls.filter((c) => c.call_type === "final_decision")).toHaveLength(1);
  });

  it("estimates a response without usageMetadata instead of counting 0", async () => {
    h.emulator.setFaults([{ kind: "missing_usage", callType: "comprehensive_overview" }]);
    const { id, calls } = await run();
    const call = calls.find((c) => c.call_type === "comprehensive_overview");
    expect(call).toMatchObject({ status: "success", usage_source: "estimated", raw_usage: null });
    expect(call?.input_tokens).toBe(Math.ceil((call?.input_chars ?? 0) / 4));
    expect(call?.output_tokens).toBeGreaterThan(0);
    await expectTotalsMatchCalls(h.db.sql, id);
  });

  it("records a blocked prompt's tokens and does not retry it", async () => {
    h.emulator.setFaults([{ kind: "blocked_prompt", callType: "reversal_patterns" }]);
    const { row, calls } = await run();
    const blocked = calls.filter((c) => c.call_type === "reversal_patterns");
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatchObject({ status: "failure", error_type: "blocked", usage_source: "provider" });
    expect(blocked[0]?.input_tokens).toBeGreaterThan(0);
    expect(row.status).toBe("partial");
  });

  it("times out a hung call with our own deadline and retries it", async () => {
    h.emulator.setFaults([{ kind: "timeout", callType: "continuation_levels", attempt: 1 }]);
    const { row, calls } = await run();
    expect(row.status).toBe("completed");
    const [hung, retried] = calls.filter((c) => c.call_type === "continuation_levels");
    expect(hung).toMatchObject({ status: "failure", error_type: "timeout", usage_source: "none" });
    expect(retried).toMatchObject({ attempt: 2, status: "success" });
  });

  it("resumes an interrupted analysis without re-requesting stages that succeeded", async () => {
    h.emulator.setFaults([{ kind: "timeout", callType: "final_decision", attempt: 1 }]);
    const id = await h.queue("INFY");
    const shutdown = new AbortController();
    await expect(
      executeAnalysis(id, h.deps, {
        signal: shutdown.signal,
        onStage: (callType, state) => {
          if (callType === "final_decision" && state === "running") setTimeout(() => shutdown.abort(), 50);
        },
      }),
    ).rejects.toBeInstanceOf(AnalysisInterruptedError);
    expect(h.deps.registry.size).toBe(0);
    const before = await listCalls(h.db.sql, id);
    expect(before.filter((c) => c.status === "success")).toHaveLength(5);
    expect(before.find((c) => c.call_type === "final_decision")?.status).toBe("interrupted");

    h.emulator.setFaults([]);
    const seqBefore = h.emulator.requestLog().length;
    const row = await executeAnalysis(id, h.deps);
    const resumedRequests = h.emulator
      .requestLog()
      .slice(seqBefore)
      .filter((e) => e.analysisId === id);
    expect(resumedRequests.map((e) => [e.callType, e.attempt])).toEqual([["final_decision", 2]]);
    expect(row).toMatchObject({ status: "completed", runs: 2, llm_calls_count: 7 });
    await expectTotalsMatchCalls(h.db.sql, id);
    const billed = billedByServer(h.emulator.requestLog(), id);
    expect(row?.total_tokens).toBe(billed.total);
  });

  it("sends no request before the call's start marker is committed", async () => {
    const id = await h.queue("HDFCBANK");
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked = () => {};
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // SHARE blocks INSERTs into llm_calls and nothing else the run needs (reads pass).
    const holder = h.db.sql.begin(async (tx) => {
      await tx`LOCK TABLE llm_calls IN SHARE MODE`;
      locked();
      await held;
    });
    await isLocked;
    const running = executeAnalysis(id, h.deps);
    const waitingInserts = async () => {
      const [row] = await h.db.sql`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO llm_calls%'`;
      return row?.n ?? 0;
    };
    try {
      while ((await waitingInserts()) === 0) await sleep(10);
      // A marker is waiting for its commit; a runner that did not wait for it would be asking now.
      await sleep(300);
      expect(h.emulator.requestLog().filter((e) => e.analysisId === id)).toEqual([]);
    } finally {
      release(); // whatever happened, the lock must not outlive the test
      await holder;
    }
    const row = await running;
    expect(row).toMatchObject({ status: "completed", llm_calls_count: 6 });
    await expectTotalsMatchCalls(h.db.sql, id);
  });

  it("does not run an analysis that already ended", async () => {
    const { id } = await run();
    const requests = h.emulator.requestLog().length;
    expect(await executeAnalysis(id, h.deps)).toBeNull();
    expect(h.emulator.requestLog().length).toBe(requests);
  });
});

describe("one run at a time", () => {
  it("a second run of the same analysis (another process) is told to wait, not run it twice", async () => {
    const id = await h.queue("HDFCBANK");
    // Hold the first run at final_decision (one timed-out attempt) so it is surely still running.
    h.emulator.setFaults([{ kind: "timeout", callType: "final_decision", attempt: 1, analysisId: id }]);
    // A second "process": same database, its own registry.
    const other = { ...h.deps, registry: new TrackerRegistry() };
    const first = executeAnalysis(id, h.deps);
    while (!h.emulator.requestLog().some((e) => e.analysisId === id))
      await new Promise((r) => setTimeout(r, 2));
    await expect(executeAnalysis(id, other)).rejects.toBeInstanceOf(AnalysisBusyError);
    expect((await first)?.status).toBe("completed");
    expect(await executeAnalysis(id, other)).toBeNull();
    // Six stages plus the one timed-out final_decision attempt: nothing was asked twice.
    expect(billedByServer(h.emulator.requestLog(), id).requests).toBe(7);
  });
});
