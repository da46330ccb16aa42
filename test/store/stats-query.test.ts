import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/config/config.js";
import { applyRollups, foldAllPendingRollups, rebuildRollups } from "../../src/store/rollups-repo.js";
import {
  loadStats,
  mostExpensive,
  parseStatsOptions,
  planPeriods,
  type StatsGroup,
} from "../../src/store/stats-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";
import { FIXTURE_NOW, insertStatsFixture } from "./stats-fixture.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await insertStatsFixture(db.sql);
});
afterAll(() => db.drop());

const stats = (raw: Parameters<typeof parseStatsOptions>[0]) =>
  loadStats(db.sql, parseStatsOptions(raw, FIXTURE_NOW));

const pick = (g: StatsGroup | undefined) => ({
  key: g?.key,
  analyses: g?.analyses,
  calls: g?.calls,
  failed_calls: g?.failed_calls,
  cost_usd: g?.cost_usd,
});

// All figures below are summed by hand from the table in stats-fixture.ts.
describe("stats from the rollups", () => {
  it("has the DESIGN §5 shape and the hand-summed totals", async () => {
    const report = await stats({ range: "all" });
    expect(Object.keys(report)).toEqual(["from", "to", "by", "totals", "groups"]);
    expect(report).toMatchObject({
      from: "2026-03-10T00:00:00.000Z",
      to: "2026-04-03T00:00:00.000Z",
      by: "stage",
    });
    expect(Object.keys(report.totals).sort()).toEqual(
      [
        "key",
        "analyses",
        "calls",
        "failed_calls",
        "input_tokens",
        "output_tokens",
        "thinking_tokens",
        "cached_input_tokens",
        "total_tokens",
        "cost_usd",
        "success_rate",
        "p50_ms",
        "p95_ms",
        "cost_per_1k_tokens",
        "unpriced_calls",
        "tokens_saved",
        "reuse_cost_saved_usd",
        "cache_cost_saved_usd",
        "batch_saved_usd",
      ].sort(),
    );
    expect(report.totals).toEqual({
      key: "all",
      analyses: 4,
      calls: 6,
      failed_calls: 2,
      input_tokens: 4400, // 1000 + 2000 + 500 + 800 + 100
      output_tokens: 1110, // 500 + 300 + 100 + 200 + 10
      thinking_tokens: 170, // 100 + 50 + 20
      cached_input_tokens: 200,
      total_tokens: 5510,
      cost_usd: 0.0065, // 0.001 + 0.002 + 0.0005 + 0.003; A3's call is unpriced
      cost_per_1k_tokens: 0.001179673, // 0.0065 / 5510 × 1000
      success_rate: 0.6667, // 4 of 6
      // Durations 50, 100, 500, 1000, 2000, 3000. Nearest-rank p50 is 500, in bucket [431, 512):
      // its one sample reads as the bucket's middle, 431 + (511 − 431) / 2 = 471. p95 is the
      // largest, 3000, in [2896, 3444): the middle 3170 is capped at the largest seen, 3000.
      p50_ms: 471,
      p95_ms: 3000,
      unpriced_calls: 1,
      // The fixture's calls record no price version and no analysis reused a stage.
      tokens_saved: 0,
      reuse_cost_saved_usd: 0,
      cache_cost_saved_usd: 0,
      batch_saved_usd: 0,
    });
  });

  it("groups by stage in pipeline order, counting each analysis once per stage", async () => {
    const { groups } = await stats({ range: "all", by: "stage" });
    expect(groups.map((g) => g.key)).toEqual(["indicator_summary", "final_decision"]);
    expect(groups[0]).toMatchObject({
      analyses: 3,
      calls: 4,
      failed_calls: 1,
      input_tokens: 1600,
      output_tokens: 610,
      thinking_tokens: 100,
      cached_input_tokens: 200,
      total_tokens: 2210,
      cost_usd: 0.0015,
      success_rate: 0.75,
      unpriced_calls: 1,
    });
    expect(groups[1]).toMatchObject({
      analyses: 2,
      calls: 2,
      failed_calls: 1,
      input_tokens: 2800,
      output_tokens: 500,
      thinking_tokens: 70,
      total_tokens: 3300,
      cost_usd: 0.005,
      success_rate: 0.5,
      p50_ms: 471, // 500 ms and 3000 ms: rank 1 is 500
      p95_ms: 3000,
    });
  });

  it("groups by model and ticker, most expensive first; an all-unpriced group costs null, not 0", async () => {
    const byModel = await stats({ range: "all", by: "model" });
    expect(byModel.groups.map(pick)).toEqual([
      { key: "gemini-2.5-pro", analyses: 1, calls: 2, failed_calls: 1, cost_usd: 0.0035 },
      { key: "gemini-2.5-flash", analyses: 1, calls: 3, failed_calls: 1, cost_usd: 0.003 },
      { key: "mystery-model", analyses: 1, calls: 1, failed_calls: 0, cost_usd: null },
    ]);
    expect(byModel.groups[2]).toMatchObject({ unpriced_calls: 1, cost_per_1k_tokens: null });
    const byTicker = await stats({ range: "all", by: "ticker" });
    expect(byTicker.groups.map(pick)).toEqual([
      { key: "TCS", analyses: 1, calls: 2, failed_calls: 1, cost_usd: 0.0035 },
      { key: "RELIANCE", analyses: 2, calls: 4, failed_calls: 1, cost_usd: 0.003 },
      { key: "INFY", analyses: 1, calls: 0, failed_calls: 0, cost_usd: 0 },
    ]);
    expect(byTicker.groups[2]).toMatchObject({ success_rate: null, p50_ms: null, cost_per_1k_tokens: null });
    const window = parseStatsOptions({}, FIXTURE_NOW).window;
    expect((await mostExpensive(db.sql, window, "model"))?.key).toBe("gemini-2.5-pro");
    expect((await mostExpensive(db.sql, window, "ticker"))?.key).toBe("TCS");
  });

  it("counts an analysis and all its calls on the day it started", async () => {
    const { groups } = await stats({ range: "all", by: "day" });
    expect(groups.map(pick)).toEqual([
      { key: "2026-03-10", analyses: 1, calls: 3, failed_calls: 1, cost_usd: 0.003 },
      { key: "2026-03-11", analyses: 1, calls: 2, failed_calls: 1, cost_usd: 0.0035 },
      { key: "2026-04-02", analyses: 2, calls: 1, failed_calls: 0, cost_usd: null },
    ]);
  });

  it("filters by named ranges relative to today (2026-04-02)", async () => {
    const today = await stats({ range: "today" });
    expect(today).toMatchObject({ from: "2026-04-02T00:00:00.000Z", to: "2026-04-03T00:00:00.000Z" });
    expect(pick(today.totals)).toEqual({
      key: "all",
      analyses: 2,
      calls: 1,
      failed_calls: 0,
      cost_usd: null,
    });
    const week = await stats({ range: "7d" });
    expect(week.from).toBe("2026-03-27T00:00:00.000Z");
    expect(week.totals.analyses).toBe(2);
    const month = await stats({ range: "30d" });
    expect(month.from).toBe("2026-03-04T00:00:00.000Z");
    expect(pick(month.totals)).toEqual({
      key: "all",
      analyses: 4,
      calls: 6,
      failed_calls: 2,
      cost_usd: 0.0065,
    });
  });

  it("filters by --since/--until days, inclusive, reading whole months from month rows", async () => {
    const oneDay = await stats({ since: "2026-03-11", until: "2026-03-11" });
    expect(oneDay).toMatchObject({ from: "2026-03-11T00:00:00.000Z", to: "2026-03-12T00:00:00.000Z" });
    expect(pick(oneDay.totals)).toEqual({
      key: "all",
      analyses: 1,
      calls: 2,
      failed_calls: 1,
      cost_usd: 0.0035,
    });
    const fromMarch11 = await stats({ since: "2026-03-11" });
    expect(fromMarch11.totals.analyses).toBe(3);
    const untilMarch = await stats({ until: "2026-03-31", by: "ticker" });
    expect(untilMarch.groups.map((g) => g.key)).toEqual(["TCS", "RELIANCE"]);
    // March is a whole month here (month rows) plus April 1-2 (day rows).
    const tiered = await stats({ since: "2026-03-01", until: "2026-04-02", by: "stage" });
    const full = await stats({ range: "all", by: "stage" });
    expect(tiered.totals).toEqual(full.totals);
    expect(tiered.groups).toEqual(full.groups);
    const marchOnly = await stats({ since: "2026-03-01", until: "2026-03-31" });
    expect(pick(marchOnly.totals)).toEqual({
      key: "all",
      analyses: 2,
      calls: 5,
      failed_calls: 2,
      cost_usd: 0.0065,
    });
    const empty = await stats({ since: "2026-05-01" });
    expect(empty.totals).toMatchObject({
      analyses: 0,
      calls: 0,
      cost_usd: 0,
      success_rate: null,
      p50_ms: null,
    });
    expect(empty.groups).toEqual([]);
  });

  it("plans month rows (minus a few days) wherever that reads fewer rows than days", () => {
    const span = { first: "2025-11-25", end: "2026-11-26" };
    // All: every month, the first and last included (no data outside the span).
    expect(planPeriods("2025-11-25", "2026-11-26", span, false)).toEqual({
      months: ["2025-11-01", "2026-12-01"],
      days: [],
      minus: [],
    });
    // 30 days to today: five days of October, then November as a month.
    expect(planPeriods("2026-10-27", "2026-11-26", span, false)).toEqual({
      months: ["2026-11-01", "2026-12-01"],
      days: [["2026-10-27", "2026-11-01"]],
      minus: [],
    });
    // Mid-month to mid-month: January as its month minus 14 days, April's 9 days as days.
    expect(planPeriods("2026-01-15", "2026-04-10", span, false)).toEqual({
      months: ["2026-01-01", "2026-04-01"],
      days: [["2026-04-01", "2026-04-10"]],
      minus: [["2026-01-01", "2026-01-15"]],
    });
    expect(planPeriods("2026-01-02", "2026-01-31", span, false)).toEqual({
      months: ["2026-01-01", "2026-02-01"],
      days: [],
      minus: [
        ["2026-01-01", "2026-01-02"],
        ["2026-01-31", "2026-02-01"],
      ],
    });
    // Half a month, or by day: day rows only.
    expect(planPeriods("2026-03-05", "2026-03-20", span, false)).toEqual({
      months: ["2026-03-20", "2026-03-20"],
      days: [["2026-03-05", "2026-03-20"]],
      minus: [],
    });
    expect(planPeriods("2026-01-01", "2026-03-01", span, true)?.days).toEqual([["2026-01-01", "2026-03-01"]]);
    expect(planPeriods("2027-01-01", "2027-02-01", span, false)).toBeNull();
  });

  it("subtracts left-out days from a month row exactly", async () => {
    // March data: A1 (03-10) and A2 (03-11). 03-11..03-31 reads March minus 03-01..03-10.
    const report = await stats({ since: "2026-03-11", until: "2026-03-31", by: "ticker" });
    expect(report.groups.map(pick)).toEqual([
      { key: "TCS", analyses: 1, calls: 2, failed_calls: 1, cost_usd: 0.0035 },
    ]);
    expect(report.totals).toEqual((await stats({ since: "2026-03-11", until: "2026-03-11" })).totals);
  });

  it("does not count an analysis twice when it is finalized again", async () => {
    const before = await stats({ range: "all", by: "ticker" });
    const outcome = await db.sql.begin((tx) => applyRollups(tx, "fx-a1"));
    expect(outcome).toBe("rebuilt");
    expect(await stats({ range: "all", by: "ticker" })).toEqual(before);
  });

  it("keeps the rollups of days whose calls `retention` dropped when rollups are rebuilt", async () => {
    const before = await stats({ range: "all", by: "day" });
    // As `retention --keep-months` would: pending analyses folded, then March's call rows go,
    // its analyses stay.
    await foldAllPendingRollups(db.sql);
    await db.sql`DELETE FROM llm_calls WHERE started_at < '2026-04-01'`;
    await rebuildRollups(db.sql);
    expect(await stats({ range: "all", by: "day" })).toEqual(before);
  });

  it("refuses bad options with one-line usage errors", () => {
    const bad: Parameters<typeof parseStatsOptions>[0][] = [
      { range: "3d" },
      { by: "week" },
      { since: "2026-02-30" },
      { since: "2026-03-01T00:00:00Z" },
      { range: "7d", since: "2026-03-01" },
      { since: "2026-03-05", until: "2026-03-01" },
    ];
    for (const options of bad) {
      expect(() => parseStatsOptions(options, FIXTURE_NOW), JSON.stringify(options)).toThrow(UsageError);
    }
  });
});
