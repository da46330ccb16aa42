import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  assertDailyBudgetLeft,
  DailyBudgetExhaustedError,
  noteBudgetCrossings,
} from "../../src/analysis/daily-budget.js";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import type { DailyBudget } from "../../src/config/config.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import { spentToday } from "../../src/store/budget-repo.js";
import { listCalls } from "../../src/store/calls-repo.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { dropQueueKeys, openTestQueue, REDIS_URL, uniqueName } from "../helpers/services.js";

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
  it("skips the remaining stages once --max-tokens is reached and records what was spent", async () => {
    const id = await queueWithLimits("RELIANCE", { maxTokens: 2000 });
    const row = await executeAnalysis(id, h.deps);
    expect(row?.status).toBe("budget_exceeded");
    expect(row?.error).toMatch(/^token limit reached: [\d,]+ of 2,000 tokens; not run: final_decision$/);
    expect(row?.decision).toBeNull();
    const calls = await listCalls(h.db.sql, id);
    // The five concurrent stages had started before any finished; final_decision never ran.
    expect(calls.map((c) => c.call_type).sort()).not.toContain("final_decision");
    expect(calls).toHaveLength(5);
    await expectTotalsMatchCalls(h.db.sql, id);
  });

  it("stops retrying a failing stage once --max-cost is reached", async () => {
    h.emulator.setFaults([{ kind: "server_error", callType: "volume_analysis", attempt: 2 }]);
    h.emulator.setFaults([
      { kind: "bad_schema", callType: "volume_analysis" },
      { kind: "server_error", callType: "volume_analysis" },
    ]);
    const id = await queueWithLimits("TCS", { maxCostUsd: "0.000001" });
    const row = await executeAnalysis(id, h.deps);
    expect(row?.status).toBe("budget_exceeded");
    expect(row?.error).toMatch(/^cost limit reached: \$0\.\d{6} of \$0\.000001; not run: final_decision$/);
    const volume = (await listCalls(h.db.sql, id)).filter((c) => c.call_type === "volume_analysis");
    expect(volume).toHaveLength(1);
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
    const { queue, close } = openTestQueue(REDIS_URL, prefix);
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
