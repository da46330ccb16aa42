import { describe, expect, it } from "vitest";
import { candlePatternsAt, candleShape, findCandlePatterns, priorMove } from "../../src/market/candles.js";
import type { PriceBar } from "../../src/market/types.js";
import { weekdays } from "./fixtures.js";

type Ohlc = [open: number, high: number, low: number, close: number];

/** Bars from [open, high, low, close] rows on consecutive weekdays. */
function bars(rows: Ohlc[]): PriceBar[] {
  const dates = weekdays(rows.length);
  return rows.map(([open, high, low, close], i) => ({
    date: dates[i] as string,
    open,
    high,
    low,
    close,
    volume: 1000,
  }));
}

// Six plain candles (body 1, range 2, shadows 0.5) closing 110 → 100 or 100 → 110: a move
// into the bar under test, with no pattern of their own.
const FALLING: Ohlc[] = [110, 108, 106, 104, 102, 100].map((c) => [c + 1, c + 1.5, c - 0.5, c]);
const RISING: Ohlc[] = [100, 102, 104, 106, 108, 110].map((c) => [c - 1, c + 0.5, c - 1.5, c]);

const patternsOf = (rows: Ohlc[]) => {
  const series = bars(rows);
  return candlePatternsAt(series, series.length - 1).map((p) => p.pattern);
};

describe("candle anatomy and the move into a bar", () => {
  it("measures body, range and shadows", () => {
    expect(candleShape(bars([[99, 100.2, 96, 100]])[0] as PriceBar)).toEqual({
      body: 1,
      range: expect.closeTo(4.2, 12),
      upperShadow: expect.closeTo(0.2, 12),
      lowerShadow: 3,
    });
  });

  it("compares the previous close with the close five bars before it", () => {
    const falling = bars([...FALLING, [99, 100, 98, 99]]);
    expect(priorMove(falling, 6)).toBe("down"); // 100 < 110
    expect(priorMove(bars([...RISING, [111, 112, 110, 111]]), 6)).toBe("up");
    expect(priorMove(falling, 5)).toBeNull(); // needs bar 5 - 1 - 5 = -1
  });

  it("finds nothing in the plain candles themselves", () => {
    expect(findCandlePatterns(bars([...FALLING, ...RISING]))).toEqual([]);
  });
});

describe("candlestick patterns on hand-made bars", () => {
  it("doji: body at most 10% of the range, wherever it appears", () => {
    // body 0.4 of range 5 (8%)
    expect(patternsOf([...RISING, [100, 103, 98, 100.4]])).toEqual(["doji"]);
    expect(patternsOf([[100, 103, 98, 100.4]])).toEqual(["doji"]);
    // body 0.6 of range 5 (12%): not a doji
    expect(patternsOf([[100, 103, 98, 100.6]])).toEqual([]);
  });

  it("hammer: after a decline, small body on top, lower shadow ≥ 2× body, almost no upper shadow", () => {
    // body 1, range 4.2, lower shadow 3, upper shadow 0.2 (≤ 0.42)
    const hammer: Ohlc = [99, 100.2, 96, 100];
    expect(patternsOf([...FALLING, hammer])).toEqual(["hammer"]);
    // The same candle after a rise is a hanging man, which is not reported.
    expect(patternsOf([...RISING, hammer])).toEqual([]);
    // Lower shadow only 1.5× the body: not a hammer.
    expect(patternsOf([...FALLING, [99, 100.1, 97.5, 100]])).toEqual([]);
  });

  it("shooting star: after a rise, small body at the bottom, long upper shadow", () => {
    // body 1, range 4.2, upper shadow 3, lower shadow 0.2
    const star: Ohlc = [111, 114, 109.8, 110];
    expect(patternsOf([...RISING, star])).toEqual(["shooting_star"]);
    expect(patternsOf([...FALLING, star])).toEqual([]);
  });

  it("bullish engulfing: after a decline, an up body covering the previous down body", () => {
    const down: Ohlc = [101, 101.5, 98.5, 99];
    // opens 98.8 ≤ 99, closes 101.5 ≥ 101, body 2.7 > 2
    expect(patternsOf([...FALLING, down, [98.8, 102, 98.5, 101.5]])).toEqual(["bullish_engulfing"]);
    // Closing at 100.5 leaves the previous open uncovered.
    expect(patternsOf([...FALLING, down, [98.8, 101, 98.5, 100.5]])).toEqual([]);
    // The same two candles after a rise mean nothing.
    expect(patternsOf([...RISING, [111, 111.5, 108.5, 109], [108.8, 112, 108.5, 111.5]])).toEqual([]);
  });

  it("bearish engulfing: after a rise, a down body covering the previous up body", () => {
    const up: Ohlc = [109, 111.5, 108.5, 111];
    expect(patternsOf([...RISING, up, [111.2, 111.5, 108, 108.5]])).toEqual(["bearish_engulfing"]);
    expect(patternsOf([...FALLING, [99, 101.5, 98.5, 101], [101.2, 101.5, 98, 98.5]])).toEqual([]);
  });

  it("reports date, index and bias, from a given bar on", () => {
    const series = bars([...FALLING, [99, 100.2, 96, 100], [100, 103, 98, 100.4]]);
    expect(findCandlePatterns(series)).toEqual([
      { index: 6, date: series[6]?.date, pattern: "hammer", bias: "bullish" },
      { index: 7, date: series[7]?.date, pattern: "doji", bias: "neutral" },
    ]);
    expect(findCandlePatterns(series, 7).map((p) => p.pattern)).toEqual(["doji"]);
  });
});
