import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderSummary } from "../../src/cli/render.js";
import { picoToNumber } from "../../src/ledger/money.js";
import { PRICE_BOOK } from "../../src/ledger/price-table.js";
import { type AnalysisRow, getAnalysis } from "../../src/store/analyses-repo.js";
import { foldAllPendingRollups, rebuildRollups } from "../../src/store/rollups-repo.js";
import { cacheSavingPerToken, savingsByDay } from "../../src/store/savings-repo.js";
import { loadStats, parseStatsOptions, type StatsGroup } from "../../src/store/stats-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";
import { BATCH_FIXTURE, insertBatchFixture } from "./batch-savings-fixture.js";

let db: TestDatabase;
const { reliance, tcs, infy, wipro } = BATCH_FIXTURE;

beforeAll(async () => {
  db = await createTestDatabase();
  await insertBatchFixture(db.sql, new Date(Date.now() - 120_000));
});
afterAll(() => db.drop());

const stats = (by: string) => loadStats(db.sql, parseStatsOptions({ range: "all", by }));
const saved = (groups: StatsGroup[]) =>
  Object.fromEntries(groups.map((g) => [g.key, [g.batch_saved_usd, g.cache_cost_saved_usd]]));
const analysis = async (id: string) => (await getAnalysis(db.sql, id)) as AnalysisRow;

/** All figures are worked out by hand in batch-savings-fixture.ts. */
async function expectHandSums() {
  const byTicker = await stats("ticker");
  expect(byTicker.totals.batch_saved_usd).toBe(0.26095); // 0.00345 + 0.2575
  expect(byTicker.totals.cache_cost_saved_usd).toBe(0.050615); // 0.00048 + 0.05 + 0.000135
  expect(saved(byTicker.groups)).toEqual({
    RELIANCE: [0.00345, 0.00048],
    TCS: [0.2575, 0.05],
    INFY: [0, 0.000135],
    WIPRO: [0, 0],
  });
  expect(saved((await stats("stage")).groups)).toEqual({
    indicator_summary: [0, 0.000135],
    comprehensive_overview: [0.002775, 0.00048],
    volume_analysis: [0.2575, 0.05],
    final_decision: [0.000675, 0],
  });
  expect(saved((await stats("model")).groups)).toEqual({
    "gemini-2.5-pro": [0.2575, 0.05],
    "gemini-2.5-flash": [0.00345, 0.000615],
    "mystery-model": [0, 0],
  });
  const days = (await stats("day")).groups;
  expect(days.map((d) => d.batch_saved_usd)).toEqual([0.26095]);
  // The rollup rows hold the exact decimal, not a float.
  const [row] = await db.sql<{ saved: string }[]>`
    SELECT sum(batch_saved_usd)::text AS saved FROM stats_rollups_live WHERE dimension = 'all' AND grain = 'month'`;
  expect(row?.saved).toBe("0.260950000000");
}

describe("batch savings", () => {
  it("stores each batch call's saving exactly; standard and unpriced calls have none", async () => {
    const rows = await db.sql<
      { analysis_id: string; call_type: string; attempt: number; saved: string | null }[]
    >`
      SELECT analysis_id, call_type, attempt, service_tier, price_tier, batch_saved_usd::text AS saved
      FROM llm_calls ORDER BY analysis_id, call_type, attempt`;
    expect(rows).toEqual([
      {
        analysis_id: infy,
        call_type: "indicator_summary",
        attempt: 1,
        service_tier: "standard",
        price_tier: "standard",
        saved: null,
      },
      {
        analysis_id: reliance,
        call_type: "comprehensive_overview",
        attempt: 1,
        service_tier: "batch",
        price_tier: "batch",
        saved: "0.002775000000",
      },
      {
        analysis_id: reliance,
        call_type: "final_decision",
        attempt: 1,
        service_tier: "batch",
        price_tier: "batch",
        saved: "0.000675000000",
      },
      {
        analysis_id: reliance,
        call_type: "indicator_summary",
        attempt: 1,
        service_tier: "batch",
        price_tier: "batch",
        saved: "0.000000000000",
      },
      {
        analysis_id: reliance,
        call_type: "indicator_summary",
        attempt: 2,
        service_tier: "standard",
        price_tier: "standard",
        saved: null,
      },
      {
        analysis_id: tcs,
        call_type: "volume_analysis",
        attempt: 1,
        service_tier: "batch",
        price_tier: "batch_long_context",
        saved: "0.257500000000",
      },
      {
        analysis_id: wipro,
        call_type: "indicator_summary",
        attempt: 1,
        service_tier: "batch",
        price_tier: null,
        saved: null,
      },
    ]);
  });

  it("sums them per analysis at finalize, and per stage in the breakdown", async () => {
    const r = await analysis(reliance);
    expect(r.batch_saved_usd).toBe("0.003450000000");
    expect((await analysis(tcs)).batch_saved_usd).toBe("0.257500000000");
    expect((await analysis(infy)).batch_saved_usd).toBe("0.000000000000");
    expect((await analysis(wipro)).batch_saved_usd).toBe("0.000000000000");
    expect(r.token_usage_breakdown.indicator_summary).toMatchObject({
      calls: 2,
      batch_calls: 1,
      batch_saved_usd: 0,
    });
    expect(r.token_usage_breakdown.comprehensive_overview).toMatchObject({
      batch_calls: 1,
      batch_saved_usd: 0.002775,
    });
    expect((await analysis(infy)).token_usage_breakdown.indicator_summary).not.toHaveProperty("batch_calls");
  });

  it("prints the saving in the summary, and each stage's service tier", async () => {
    const text = renderSummary(await analysis(reliance));
    expect(text).toContain(
      "  Cost: $0.004370\n  Cost Saved by Batch Mode: $0.003450\n\nBreakdown by Call Type:",
    );
    expect(text).toContain(
      "    Success Rate: 1/2\n    Service Tier: batch 1, standard 1 (saved $0.000000)\n",
    );
    expect(text).toContain("    Success Rate: 1/1\n    Service Tier: batch (saved $0.002775)\n");
    expect(renderSummary(await analysis(wipro))).toContain("  Cost Saved by Batch Mode: $0.000000\n");
    const standard = renderSummary(await analysis(infy));
    expect(standard).not.toContain("Batch");
    expect(standard).not.toContain("Service Tier");
  });

  it("stats totals and groups count them while pending, once folded, and after a rebuild", async () => {
    const [pending] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stats_rollup_pending`;
    expect(pending?.n).toBe(4);
    await expectHandSums();
    await foldAllPendingRollups(db.sql);
    await expectHandSums();
    await db.sql`UPDATE stats_rollups SET batch_saved_usd = 0, cache_cost_saved_usd = 0`;
    await rebuildRollups(db.sql);
    await expectHandSums();
  });

  it("prices cached tokens of batch calls at the batch card's rates", async () => {
    const perToken = async (model: string, tier: string) => {
      const [row] = await db.sql<{ saving: string }[]>`
        SELECT stats_cache_saving(${model}, 'gemini-2025-12', ${tier}, 1000000)::text AS saving`;
      return row?.saving;
    };
    // USD per 1M cached tokens: input − cached input of each card.
    expect(await perToken("gemini-2.5-flash", "standard")).toBe("0.270000000000");
    expect(await perToken("gemini-2.5-flash", "batch")).toBe("0.120000000000");
    expect(await perToken("gemini-2.5-pro", "long_context")).toBe("2.250000000000");
    expect(await perToken("gemini-2.5-pro", "batch_long_context")).toBe("1.000000000000");
    expect(await perToken("gemini-2.5-flash-preview-09-2025", "batch")).toBe("0.120000000000");
    // The migration's rates are the price book's, for every tier.
    const rows = await db.sql<{ version: string; model: string; tier: string; saving: string }[]>`
      SELECT version, model, tier, saving_per_token::text AS saving FROM stats_cache_rates WHERE tier LIKE 'batch%'`;
    expect(rows.length).toBe(2 * Object.keys(PRICE_BOOK[0]?.models ?? {}).length);
    for (const r of rows) {
      expect(Number(r.saving), `${r.model}/${r.tier}`).toBe(
        picoToNumber(cacheSavingPerToken(r.model, r.version, r.tier) ?? -1n),
      );
    }
  });

  it("shows the same savings per ticker and per day on the dashboard", async () => {
    const { days, tickers } = await savingsByDay(db.sql, 1);
    expect(days.map((d) => [d.batch_saved_usd, d.cache_cost_saved_usd])).toEqual([[0.26095, 0.050615]]);
    expect(tickers.map((t) => [t.ticker, t.batch_saved_usd, t.cache_cost_saved_usd])).toEqual([
      ["TCS", 0.2575, 0.05],
      ["RELIANCE", 0.00345, 0.00048],
      ["INFY", 0, 0.000135],
    ]);
  });

  it("the migration's backfill gives rows stored before it the same savings", async () => {
    const before =
      await db.sql`SELECT analysis_id, call_type, attempt, batch_saved_usd FROM llm_calls ORDER BY 1, 2, 3`;
    const analysesBefore = await db.sql`SELECT id, batch_saved_usd FROM stock_analyses ORDER BY id`;
    await db.sql`UPDATE llm_calls SET batch_saved_usd = NULL`;
    await db.sql`UPDATE stock_analyses SET batch_saved_usd = 0`;
    const [run] = await db.sql<{ n: string }[]>`SELECT batch_savings_backfill()::text AS n`;
    expect(run?.n).toBe("4"); // the priced batch calls
    expect(
      await db.sql`SELECT analysis_id, call_type, attempt, batch_saved_usd FROM llm_calls ORDER BY 1, 2, 3`,
    ).toEqual(before);
    expect(await db.sql`SELECT id, batch_saved_usd FROM stock_analyses ORDER BY id`).toEqual(analysesBefore);
  });
});
