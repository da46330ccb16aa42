import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  assertDailyBudgetLeft,
  DailyBudgetExhaustedError,
  noteBudgetCrossings,
} from "../../src/analysis/daily-budget.js";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { FINAL_DECISION_STAGE } from "../../src/analysis/stages.js";
import type { DailyBudget } from "../../src/config/config.js";
import { worstCase } from "../../src/ledger/budget.js";
import { picoToUsd, usdToPico } from "../../src/ledger/money.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import { spentToday } from "../../src/store/budget-repo.js";
import { listCalls } from "../../src/store/calls-repo.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { dropQueueKeys, openTestQueue, testConfig, uniqueName } from "../helpers/services.js";

let h: PipelineHarness;

beforeAll(async () => {
  h = await createPipelineHarness();
});
afterAll(() => h.close());
beforeEach(() => h.emulator.setFaults([]));

async function queueWithLimits(ticker: string, limits: { maxTokens?: number; maxCostUsd?: string }) {
  const id = await h.queue(ticker);
  await h.db.sql`UPDATE stock_analyses SET max_tokens = ${limits.maxTokens ?? null},
    max_cost_usd = ${limits.maxCostUsd ?? null} WHERE id = ${id}`;
  return id;
}

describe("per-analysis limits", () => {
  it("sends no call whose worst case does not fit under --max-tokens: nothing is spent past the cap", async () => {
    const id = await queueWithLimits("RELIANCE", { maxTokens: 2000 });
    const row = await executeAnalysis(id, h.deps);
    expect(row?.status).toBe("budget_exceeded");
    // Each stage's prompt plus its bounds is more than 2,000 tokens: none is sent.
    expect(row?.error).toMatch(
      /^token limit 2,000: the call may bill up to [\d,]+ tokens and 2,000 are left .*; not run: indicator_summary, comprehensive_overview, volume_analysis, reversal_patterns, continuation_levels, final_decision$/,
    );
    expect(row?.decision).toBeNull();
    expect(await listCalls(h.db.sql, id)).toHaveLength(0);
    expect(
      h.emulator.requestLog().filter((r) => r.analysisId === id && r.method === "generateContent"),
    ).toHaveLength(0);
    await expectTotalsMatchCalls(h.db.sql, id);
  });

  it("sends no retry whose worst case no longer fits under --max-cost", async () => {
    // A clean run gives the five stages' cost and final_decision's prompt and cost.
    const clean = await executeAnalysis(await h.queue("TCS"), h.deps);
    const calls = await listCalls(h.db.sql, clean?.id ?? "");
    const final = calls.find((c) => c.call_type === "final_decision");
    const stagesPico = calls
      .filter((c) => c.call_type !== "final_decision")
      .reduce((sum, c) => sum + usdToPico(c.cost_usd ?? "0"), 0n);
    const finalPico = usdToPico(final?.cost_usd ?? "0");
    // final_decision at its smallest bounds: the least room an attempt needs.
    const smallest = worstCase("gemini-2.5-flash", {
      inputTokens: final?.input_tokens ?? 0,
      maxOutputTokens: FINAL_DECISION_STAGE.bounds.minOutputTokens,
      thinkingBudget: 128,
    }).costPico as bigint;
    // Room for the stages and one final_decision attempt, not for all three (implicit caching
    // makes the capped run's stages a little cheaper than the clean run's, so maybe for two).
    const cap = picoToUsd(stagesPico + smallest + finalPico / 4n);
    h.emulator.setFaults([{ kind: "bad_schema", callType: "final_decision" }]);
    const id = await queueWithLimits("TCS", { maxCostUsd: cap });
    const row = await executeAnalysis(id, h.deps);
    expect(row?.status).toBe("budget_exceeded");
    expect(row?.error).toMatch(
      /^cost limit \$0\.\d{6}: the call may cost up to \$0\.\d{6} and \$0\.\d{6} is left; not run: final_decision$/,
    );
    expect(usdToPico(row?.cost_usd ?? "0")).toBeLessThanOrEqual(usdToPico(cap));
    const finals = (await listCalls(h.db.sql, id)).filter((c) => c.call_type === "final_decision");
    expect(finals.length).toBeGreaterThanOrEqual(1);
    expect(finals.length).toBeLessThan(3); // the harness allows 3 attempts
    for (const call of finals) expect(call.total_tokens).toBeLessThanOrEqual(call.reserved_tokens ?? 0);
    await expectTotalsMatchCalls(h.db.sql, id);
  });
});

describe("daily budget", () => {
  it("alerts once at the threshold and at 100%, then refuses new analyses with nothing written", async () => {
    const first = await h.queue("INFY");
    await executeAnalysis(first, h.deps);
    const [{ total }] = (await h.db
      .sql`SELECT total_tokens AS total FROM stock_analyses WHERE id = ${first}`) as unknown as [
      { total: number },
    ];
    // Sized so that today's spend (this file's earlier analyses included) is under 80% now,
    // between 80% and 100% after one more analysis, and over 100% after two more.
    const spent = (await spentToday(h.db.sql)).tokens;
    const budget: DailyBudget = {
      dailyTokens: Math.ceil((spent + total) / 0.9),
      dailyCostUsd: undefined,
      alertThreshold: 0.8,
      whenExceeded: "refuse",
    };
    const alerts: string[] = [];
    const note = () =>
      noteBudgetCrossings({ ...h.deps, onAlert: (kind, t) => alerts.push(`${kind}@${t}`) }, budget);
    await note();
    expect(alerts).toEqual([]);

    await executeAnalysis(await h.queue("INFY"), h.deps);
    await note();
    await note();
    expect(alerts).toEqual(["tokens@0.8"]); // shown once

    await assertDailyBudgetLeft(h.db.sql, budget);
    await executeAnalysis(await h.queue("INFY"), h.deps);
    await note();
    expect(alerts).toEqual(["tokens@0.8", "tokens@1"]);

    const prefix = uniqueName("sl-test-budget");
    const { queue, close } = openTestQueue(testConfig({ DATABASE_URL: h.db.url, QUEUE_PREFIX: prefix }));
    const before = await h.db.sql`SELECT count(*)::int AS n FROM stock_analyses`;
    await expect(
      enqueueAnalyses({ sql: h.db.sql, queue, budget }, { tickers: ["TCS"], model: "gemini-2.5-flash" }),
    ).rejects.toThrow(DailyBudgetExhaustedError);
    await expect(assertDailyBudgetLeft(h.db.sql, budget)).rejects.toThrow(
      /^daily budget reached: [\d,]+ of [\d,]+ tokens used today \(UTC\); new analyses resume at \d{4}-/,
    );
    const after = await h.db.sql`SELECT count(*)::int AS n FROM stock_analyses`;
    expect(after[0]?.n).toBe(before[0]?.n);
    expect(await queue.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0 });

    // With DAILY_BUDGET_EXCEEDED=queue the analysis is accepted and held until the budget resets.
    const [held] = await enqueueAnalyses(
      { sql: h.db.sql, queue, budget: { ...budget, whenExceeded: "queue" } },
      { tickers: ["TCS"], model: "gemini-2.5-flash" },
    );
    expect(await (await queue.getJob(held?.id ?? ""))?.getState()).toBe("delayed");
    await close();
    await dropQueueKeys(prefix);
    const stored = await h.db
      .sql`SELECT kind, threshold::float AS threshold FROM budget_alerts ORDER BY threshold`;
    expect(stored).toEqual([
      { kind: "tokens", threshold: 0.8 },
      { kind: "tokens", threshold: 1 },
    ]);
  });
});
