import { describe, expect, it } from "vitest";
import { computeIndicators } from "../../src/market/indicators.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";
import type { PriceBar } from "../../src/market/types.js";
import { barsFromCloses, numbersIn, weekdays } from "./fixtures.js";

// 40 closes with rises, falls and a flat day, so gains and losses both feed RSI.
const CLOSES = [
  44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.1, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28, 46.28,
  46.0, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18, 44.22, 44.57,
  43.42, 42.66, 43.13, 43.5, 44.1, 44.8, 45.2, 44.9, 45.6, 46.1,
];
const BARS = barsFromCloses(CLOSES, 0.4);

// Independent textbook formulas, written out plainly.
const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
const lastN = <T>(values: T[], n: number) => values.slice(values.length - n);

function wilderSmooth(values: number[], period: number): number {
  let average = mean(values.slice(0, period));
  for (const value of values.slice(period)) average = (average * (period - 1) + value) / period;
  return average;
}

function handRsi(closes: number[], period: number): number {
  const changes = closes.slice(1).map((close, i) => close - (closes[i] as number));
  const averageGain = wilderSmooth(
    changes.map((change) => Math.max(change, 0)),
    period,
  );
  const averageLoss = wilderSmooth(
    changes.map((change) => Math.max(-change, 0)),
    period,
  );
  return 100 - 100 / (1 + averageGain / averageLoss);
}

function handEma(closes: number[], period: number): number {
  // Seeded with the first close, the convention trading-signals uses.
  const k = 2 / (period + 1);
  return closes.slice(1).reduce((ema, close) => close * k + ema * (1 - k), closes[0] as number);
}

function handAtr(bars: PriceBar[], period: number): number {
  const trueRanges = bars.map((bar, i) => {
    const previous = bars[i - 1];
    if (!previous) return bar.high - bar.low;
    return Math.max(
      bar.high - bar.low,
      Math.abs(bar.high - previous.close),
      Math.abs(bar.low - previous.close),
    );
  });
  return wilderSmooth(trueRanges, period);
}

describe("computeIndicators against hand-computed values", () => {
  const snapshot = computeIndicators(BARS);
  const last = BARS.at(-1) as PriceBar;

  it("reports the last bar", () => {
    expect(snapshot.asOf).toBe(last.date);
    expect(snapshot.barCount).toBe(40);
    expect(snapshot.lastClose).toBe(46.1);
  });

  it("computes SMA(20) as the mean of the last 20 closes", () => {
    expect(snapshot.movingAverages.sma20).toBeCloseTo(mean(lastN(CLOSES, 20)), 10);
  });

  it("computes EMA(20)", () => {
    expect(snapshot.movingAverages.ema20).toBeCloseTo(handEma(CLOSES, 20), 10);
  });

  it("computes Wilder RSI(14)", () => {
    expect(snapshot.rsi14).toBeCloseTo(handRsi(CLOSES, 14), 10);
  });

  it("computes Bollinger(20, 2) with population standard deviation, %B and bandwidth", () => {
    const window = lastN(CLOSES, 20);
    const middle = mean(window);
    const sd = Math.sqrt(mean(window.map((close) => (close - middle) ** 2)));
    const upper = middle + 2 * sd;
    const lower = middle - 2 * sd;
    expect(snapshot.bollinger?.middle).toBeCloseTo(middle, 10);
    expect(snapshot.bollinger?.upper).toBeCloseTo(upper, 10);
    expect(snapshot.bollinger?.lower).toBeCloseTo(lower, 10);
    expect(snapshot.bollinger?.percentB).toBeCloseTo((46.1 - lower) / (upper - lower), 10);
    expect(snapshot.bollinger?.bandwidth).toBeCloseTo((upper - lower) / middle, 10);
  });

  it("computes the rolling 20-day VWAP of the typical price", () => {
    const window = lastN(BARS, 20);
    const weighted = window.reduce(
      (sum, bar) => sum + ((bar.high + bar.low + bar.close) / 3) * bar.volume,
      0,
    );
    const volume = window.reduce((sum, bar) => sum + bar.volume, 0);
    expect(snapshot.vwap20).toBeCloseTo(weighted / volume, 10);
  });

  it("computes Wilder ATR(14)", () => {
    expect(snapshot.atr14).toBeCloseTo(handAtr(BARS, 14), 10);
  });

  it("computes Stochastic(14, 3): fast %K and its 3-bar mean", () => {
    const percentK = (end: number) => {
      const window = BARS.slice(end - 14, end);
      const highest = Math.max(...window.map((bar) => bar.high));
      const lowest = Math.min(...window.map((bar) => bar.low));
      return (((CLOSES[end - 1] as number) - lowest) / (highest - lowest)) * 100;
    };
    expect(snapshot.stochastic?.k).toBeCloseTo(percentK(40), 10);
    expect(snapshot.stochastic?.d).toBeCloseTo(mean([percentK(38), percentK(39), percentK(40)]), 10);
  });

  it("computes OBV as the running signed volume", () => {
    const obv = BARS.slice(1).reduce((total, bar, i) => {
      const previous = CLOSES[i] as number;
      return total + (bar.close > previous ? bar.volume : bar.close < previous ? -bar.volume : 0);
    }, 0);
    expect(snapshot.obv?.value).toBe(obv);
    expect(["rising", "falling", "flat"]).toContain(snapshot.obv?.trend20);
  });

  it("computes price changes, volume ratio and the 52-week range", () => {
    expect(snapshot.change.pct1d).toBeCloseTo((46.1 / 45.6 - 1) * 100, 10);
    expect(snapshot.change.pct5d).toBeCloseTo((46.1 / 44.1 - 1) * 100, 10);
    expect(snapshot.change.pct20d).toBeCloseTo((46.1 / (CLOSES[19] as number) - 1) * 100, 10);
    const averageVolume = mean(lastN(BARS, 20).map((bar) => bar.volume));
    expect(snapshot.volume.average20).toBeCloseTo(averageVolume, 10);
    expect(snapshot.volume.ratioToAverage20).toBeCloseTo(last.volume / averageVolume, 10);
    expect(snapshot.week52).toMatchObject({
      high: Math.max(...BARS.map((bar) => bar.high)),
      low: Math.min(...BARS.map((bar) => bar.low)),
      fullYear: false,
    });
  });

  it("has MACD once the signal line has 9 values (34 bars) and ADX once it has settled", () => {
    expect(computeIndicators(BARS.slice(0, 33)).macd).toBeNull();
    const macd = computeIndicators(BARS.slice(0, 34)).macd;
    expect(macd).not.toBeNull();
    expect(macd?.histogram).toBeCloseTo((macd?.macd ?? 0) - (macd?.signal ?? 0), 12);
    expect(snapshot.adx?.adx).toBeGreaterThanOrEqual(0);
    expect(snapshot.adx?.adx).toBeLessThanOrEqual(100);
  });
});

describe("computeIndicators on short or degenerate series", () => {
  it("returns nulls, not NaN, when there are too few bars", () => {
    const snapshot = computeIndicators(BARS.slice(0, 10));
    expect(snapshot.rsi14).toBeNull();
    expect(snapshot.macd).toBeNull();
    expect(Object.values(snapshot.movingAverages)).toEqual([null, null, null, null, null, null]);
    expect(snapshot.bollinger).toBeNull();
    expect(snapshot.atr14).toBeNull();
    expect(snapshot.adx).toBeNull();
    expect(snapshot.stochastic).toBeNull();
    expect(snapshot.vwap20).toBeNull();
    expect(snapshot.change.pct20d).toBeNull();
    expect(snapshot.volume.average20).toBeNull();
    expect(snapshot.obv?.slope20).toBeNull();
    expect(snapshot.change.pct5d).not.toBeNull();
  });

  it("keeps 200-bar averages null until 200 bars exist", () => {
    const closes = Array.from({ length: 199 }, (_, i) => 100 + Math.sin(i / 5) * 3);
    expect(computeIndicators(barsFromCloses(closes)).movingAverages.sma200).toBeNull();
    expect(computeIndicators(barsFromCloses([...closes, 101])).movingAverages.sma200).not.toBeNull();
  });

  it("handles an empty series", () => {
    const snapshot = computeIndicators([]);
    expect(snapshot).toMatchObject({ asOf: null, barCount: 0, lastClose: null, obv: null, week52: null });
    expect(snapshot.levels).toEqual({ support: [], resistance: [] });
  });

  it("has no NaN for a perfectly flat series, where ranges and deviations are zero", () => {
    const flat = weekdays(60).map((date) => ({ date, open: 50, high: 50, low: 50, close: 50, volume: 0 }));
    const snapshot = computeIndicators(flat);
    expect(numbersIn(snapshot).every(Number.isFinite)).toBe(true);
    expect(snapshot.bollinger?.percentB).toBeNull();
    expect(snapshot.vwap20).toBeNull();
  });
});

describe("computeIndicators on the sample data", () => {
  const provider = new SamplePriceProvider();

  it.each(["AAPL", "RELIANCE", "TCS", "INFY", "HDFCBANK", "MSFT"])(
    "fills every indicator for %s with finite, JSON-safe values",
    async (ticker) => {
      const series = await provider.load(ticker);
      const snapshot = computeIndicators(series?.bars ?? []);
      expect(numbersIn(snapshot).every(Number.isFinite)).toBe(true);
      expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
      expect(snapshot.rsi14).not.toBeNull();
      expect(snapshot.macd).not.toBeNull();
      expect(snapshot.movingAverages.ema200).not.toBeNull();
      expect(snapshot.adx?.plusDI).not.toBeNull();
      expect(snapshot.week52?.fullYear).toBe(true);
      expect(snapshot.levels.support.length + snapshot.levels.resistance.length).toBeGreaterThan(0);
    },
  );
});
