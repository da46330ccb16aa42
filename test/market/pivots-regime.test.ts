import { describe, expect, it } from "vitest";
import { computeIndicators } from "../../src/market/indicators.js";
import { formatMarketBrief } from "../../src/market/market-brief.js";
import { floorPivots } from "../../src/market/pivots.js";
import { trendRegime, volumeRegime } from "../../src/market/regime.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";
import type { PriceBar } from "../../src/market/types.js";
import { barsFromCloses, numbersIn, weekdays } from "./fixtures.js";

describe("classic floor pivots", () => {
  it("computes P, R1–R3 and S1–S3 from the last bar (H 112, L 100, C 109)", () => {
    // P = 321 / 3 = 107; R1 = 214 - 100; S1 = 214 - 112; R2 = 107 + 12; S2 = 107 - 12;
    // R3 = 112 + 2 × 7; S3 = 100 - 2 × 5.
    const bar: PriceBar = { date: "2026-11-20", open: 104, high: 112, low: 100, close: 109, volume: 1 };
    expect(floorPivots(bar)).toEqual({
      basedOn: "2026-11-20",
      pivot: 107,
      r1: 114,
      s1: 102,
      r2: 119,
      s2: 95,
      r3: 126,
      s3: 90,
    });
    expect(floorPivots(undefined)).toBeNull();
  });
});

describe("trend regime", () => {
  const ma = (sma20: number | null, sma50: number | null, sma200: number | null) => ({
    sma20,
    sma50,
    sma200,
  });

  it("is up when close > SMA50 > SMA200, down when close < SMA50 < SMA200, else sideways", () => {
    expect(trendRegime(110, ma(105, 100, 90), 30)).toEqual({
      direction: "up",
      strength: "strong",
      basis: "sma50/sma200",
      fastAboveSlow: true,
      label: "strong uptrend",
    });
    expect(trendRegime(80, ma(85, 90, 100), 22)).toMatchObject({
      direction: "down",
      label: "moderate downtrend",
    });
    expect(trendRegime(95, ma(100, 100, 90), 30)).toMatchObject({
      direction: "sideways",
      fastAboveSlow: true,
    });
  });

  it("grades ADX: 25 and up strong, 20 to 25 moderate, under 20 weak (range-bound)", () => {
    expect(trendRegime(110, ma(null, 100, 90), 25)?.strength).toBe("strong");
    expect(trendRegime(110, ma(null, 100, 90), 24.99)?.strength).toBe("moderate");
    expect(trendRegime(110, ma(null, 100, 90), 20)?.strength).toBe("moderate");
    expect(trendRegime(110, ma(null, 100, 90), 19.99)).toMatchObject({
      strength: "weak",
      label: "weak uptrend (ADX < 20: range-bound)",
    });
    expect(trendRegime(110, ma(null, 100, 90), null)).toMatchObject({ strength: null, label: "uptrend" });
  });

  it("uses SMA20/SMA50 when there is no SMA200, and gives up without SMA50", () => {
    expect(trendRegime(110, ma(105, 100, null), 30)).toMatchObject({ direction: "up", basis: "sma20/sma50" });
    expect(trendRegime(110, ma(105, null, null), 30)).toBeNull();
  });
});

describe("volume regime", () => {
  /** 50 bars: volume 1000 for 30, then 1500; the last 20 closes go up 15 times and down 5. */
  function regimeBars(lastVolume = 1500): PriceBar[] {
    const dates = weekdays(50);
    let close = 100;
    return dates.map((date, i) => {
      if (i >= 30) close += i % 4 === 0 ? -1 : 1; // bars 32, 36, 40, 44, 48 fall
      const volume = i === 49 ? lastVolume : i >= 30 ? 1500 : 1000;
      return { date, open: close, high: close + 1, low: close - 1, close, volume };
    });
  }

  it("compares the 20- and 50-bar averages, the last bar, and up- with down-close volume", () => {
    // avg20 1500, avg50 (30 × 1000 + 20 × 1500) / 50 = 1200 → 1.25; up/down volume 15 : 5 = 3.
    expect(volumeRegime(regimeBars())).toEqual({
      trendRatio: 1.25,
      trend: "expanding",
      lastBar: "normal",
      upDownRatio: 3,
      pressure: "accumulation",
    });
  });

  it("calls a last bar of 2x the average a spike and a quarter of it low", () => {
    // With the last bar at 3050: avg20 = (19 × 1500 + 3050) / 20 = 1577.5 → ratio 1.93: high.
    expect(volumeRegime(regimeBars(3050)).lastBar).toBe("high");
    expect(volumeRegime(regimeBars(3500)).lastBar).toBe("spike"); // 3500 / 1600 = 2.19
    expect(volumeRegime(regimeBars(400)).lastBar).toBe("low"); // 400 / 1445 = 0.28
  });

  it("is all null on too short a series", () => {
    expect(volumeRegime(regimeBars().slice(0, 10))).toEqual({
      trendRatio: null,
      trend: null,
      lastBar: null,
      upDownRatio: null,
      pressure: null,
    });
  });
});

describe("the snapshot and the brief carry patterns, pivots and regimes", () => {
  it("adds them to computeIndicators, JSON-safe", () => {
    const bars = barsFromCloses(Array.from({ length: 260 }, (_, i) => 100 + 10 * Math.sin(i / 9) + i / 20));
    const snapshot = computeIndicators(bars);
    const last = bars.at(-1) as PriceBar;
    expect(snapshot.pivots).toEqual(floorPivots(last));
    expect(snapshot.trend).toEqual(
      trendRegime(last.close, snapshot.movingAverages, snapshot.adx?.adx ?? null),
    );
    expect(snapshot.volumeRegime).toEqual(volumeRegime(bars));
    for (const candle of snapshot.patterns.candles) expect(candle.index).toBeGreaterThanOrEqual(255);
    for (const breakout of snapshot.patterns.breakouts) expect(breakout.index).toBeGreaterThanOrEqual(250);
    expect(numbersIn(snapshot).every(Number.isFinite)).toBe(true);
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  it("prints them in the market brief", async () => {
    const series = await new SamplePriceProvider().load("RELIANCE");
    if (series === null) throw new Error("no RELIANCE sample");
    const ind = computeIndicators(series.bars);
    const brief = formatMarketBrief(series, ind);
    const p = ind.pivots;
    expect(brief).toContain(
      `## Pivot levels (classic floor pivots from ${series.bars.at(-1)?.date}, for the next session)`,
    );
    expect(brief).toContain(`P ${p?.pivot.toFixed(2)} | R1 ${p?.r1.toFixed(2)} |`);
    expect(brief).toContain(`\nTrend: ${ind.trend?.label} | SMA50 `);
    expect(brief).toMatch(
      /^Volume: 20d\/50d average \d+\.\d{2} \((expanding|contracting|normal)\) \| last bar /m,
    );
    expect(brief).toMatch(/^Candlesticks \(last 5 bars\): /m);
    expect(brief).toMatch(/^Double top \(last 120 bars\): /m);
    expect(brief).toMatch(/^Breakouts of the 20-bar range \(last 10 bars\): /m);
    expect(brief).not.toMatch(/NaN|undefined|Infinity/);
  });
});
