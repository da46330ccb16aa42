import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExecuteDeps, executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { picoToUsd, usdToPico } from "../../src/ledger/money.js";
import { TrackerRegistry } from "../../src/ledger/tracker-registry.js";
import { logger } from "../../src/logger.js";
import { AnalysisWriter } from "../../src/store/analysis-writer.js";
import { spentToday } from "../../src/store/budget-repo.js";
import { CallWriter } from "../../src/store/call-writer.js";
import { createSql, type Sql } from "../../src/store/database.js";
import { heldDailySpend } from "../../src/store/spend-reservations-repo.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

/**
 * Caps as guarantees, on the emulator with charts (answers vary in length with each prompt):
 * whatever the cap, from one token to well above an analysis' need, nothing is spent past it.
 */

let h: PipelineHarness;
const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "MSFT"];
/** Tokens and cost of each ticker's analysis with no cap. */
const need = new Map<string, { tokens: number; costPico: bigint }>();

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
  for (const ticker of TICKERS) {
    const row = await executeAnalysis(await h.queue(ticker), h.deps);
    expect(row?.status).toBe("completed");
    need.set(ticker, { tokens: Number(row?.total_tokens), costPico: usdToPico(row?.cost_usd ?? "0") });
  }
});
afterAll(() => h.close());

async function queueCapped(ticker: string, cap: { maxTokens?: number; maxCostUsd?: string }) {
  const id = await h.queue(ticker);
  await h.db.sql`UPDATE stock_analyses SET max_tokens = ${cap.maxTokens ?? null},
    max_cost_usd = ${cap.maxCostUsd ?? null} WHERE id = ${id}`;
  return id;
}

describe("per-analysis caps", () => {
  it("50 analyses with caps from 1 token to twice their need: none spends past its cap", async () => {
    const runs: { id: string; maxTokens?: number; maxCostPico?: bigint }[] = [];
    for (let i = 0; i < 50; i++) {
      const ticker = TICKERS[i % TICKERS.length] as string;
      const { tokens, costPico } = need.get(ticker) as { tokens: number; costPico: bigint };
      // 25 token caps and 25 cost caps, each spread from almost nothing to 2x the need.
      const share = (Math.floor(i / 2) + 1) / 25;
      const fraction = share ** 3 * 2; // dense near 0 and around the need
      if (i % 2 === 0) {
        const maxTokens = Math.max(1, Math.floor(tokens * fraction));
        runs.push({ id: await queueCapped(ticker, { maxTokens }), maxTokens });
      } else {
        const maxCostPico = BigInt(Math.max(1_000_000, Math.floor(Number(costPico) * fraction)));
        const maxCostUsd = picoToUsd(maxCostPico - (maxCostPico % 1_000_000n)); // µ$ precision
        runs.push({ id: await queueCapped(ticker, { maxCostUsd }), maxCostPico: usdToPico(maxCostUsd) });
      }
    }
    const rows = await Promise.all(runs.map((run) => executeAnalysis(run.id, h.deps)));
    const statuses = new Map<string, number>();
    for (const [i, run] of runs.entries()) {
      const row = rows[i];
      statuses.set(row?.status ?? "none", (statuses.get(row?.status ?? "none") ?? 0) + 1);
      expect(["completed", "budget_exceeded"], `${run.id}: ${row?.error}`).toContain(row?.status);
      if (run.maxTokens !== undefined) expect(Number(row?.total_tokens)).toBeLessThanOrEqual(run.maxTokens);
      if (run.maxCostPico !== undefined)
        expect(usdToPico(row?.cost_usd ?? "0")).toBeLessThanOrEqual(run.maxCostPico);
      await expectTotalsMatchCalls(h.db.sql, run.id);
      // Every call went out under a reservation and billed no more than it.
      const calls = await h.db.sql<{ total_tokens: number; reserved_tokens: number | null }[]>`
        SELECT total_tokens, reserved_tokens FROM llm_calls WHERE analysis_id = ${run.id}`;
      for (const call of calls) {
        expect(call.reserved_tokens).not.toBeNull();
        expect(call.total_tokens).toBeLessThanOrEqual(call.reserved_tokens ?? 0);
      }
    }
    // The smallest caps stop everything, the largest let analyses complete.
    expect(statuses.get("completed") ?? 0).toBeGreaterThan(0);
    expect(statuses.get("budget_exceeded") ?? 0).toBeGreaterThan(0);
  });
});

describe("daily budget across workers", () => {
  let second: { sql: Sql; deps: ExecuteDeps };

  beforeAll(() => {
    // A second worker: its own pool, writers and tracker registry, the same database.
    const sql = createSql(h.db.url, { max: 10 });
    second = {
      sql,
      deps: {
        ...h.deps,
        sql,
        callWriter: new CallWriter(sql, logger),
        analysisWriter: new AnalysisWriter(sql, logger),
        registry: new TrackerRegistry(),
      },
    };
  });
  afterAll(() => second.sql.end({ timeout: 5 }));

  it("two workers with a backlog never spend past the day's token budget together", async () => {
    const before = (await spentToday(h.db.sql)).tokens;
    const room = Math.round((need.get("TCS")?.tokens ?? 0) * 3.5);
    const dailyBudget = {
      sql: h.db.sql,
      budget: {
        dailyTokens: before + room,
        dailyCostUsd: undefined,
        alertThreshold: 0.8,
        whenExceeded: "refuse" as const,
      },
      ttlMs: 60_000,
    };
    const ids = await Promise.all(TICKERS.flatMap((t) => [h.queue(t), h.queue(t)]));
    const rows = await Promise.all(
      ids.map((id, i) =>
        i % 2 === 0
          ? executeAnalysis(id, { ...h.deps, dailyBudget })
          : executeAnalysis(id, { ...second.deps, dailyBudget: { ...dailyBudget, sql: second.sql } }),
      ),
    );
    const after = (await spentToday(h.db.sql)).tokens;
    expect(after).toBeLessThanOrEqual(dailyBudget.budget.dailyTokens);
    expect(after - before).toBeGreaterThan(room / 2); // the budget was used, not refused outright
    for (const row of rows) expect(["completed", "budget_exceeded"]).toContain(row?.status);
    expect(rows.some((row) => row?.status === "budget_exceeded")).toBe(true);
    // Every reservation was released as its call ended.
    expect(await heldDailySpend(h.db.sql)).toEqual({ reservations: 0, tokens: 0 });
  });
});
