import { ADX, BollingerBands, EMA, MACD, RSI, SMA } from "trading-signals";
import type { PriceBar } from "../types.js";

// Indicator values bar by bar, for plotting; the snapshot holds only the last of each.
// Same trading-signals classes and periods as indicators.ts, so a chart's last point is
// the number the prompt states.

export type Series = (number | null)[];

/**
 * Bars each series needs before its first value (an SMA needs its period). Charts name these
 * when a ticker's history is too short to draw a line; a test checks them against the series.
 */
export const WARMUP = {
  bollinger: 20,
  rsi: 15,
  /** The slow EMA's 26 values, then 9 MACD values for the signal line. */
  macd: 34,
  adx: 27,
  vwap: 20,
  averageVolume: 20,
  /** The 20 bars before a bar. */
  donchian: 21,
} as const;

const finite = (value: number | null | undefined): number | null =>
  value !== null && value !== undefined && Number.isFinite(value) ? value : null;

function closes(bars: readonly PriceBar[]): number[] {
  return bars.map((bar) => bar.close);
}

export function smaSeries(bars: readonly PriceBar[], period: number): Series {
  const sma = new SMA(period);
  return closes(bars).map((close) => finite(sma.add(close)));
}

export function bollingerSeries(bars: readonly PriceBar[]): { upper: Series; middle: Series; lower: Series } {
  const bands = new BollingerBands(20, 2);
  const upper: Series = [];
  const middle: Series = [];
  const lower: Series = [];
  for (const close of closes(bars)) {
    const result = bands.add(close);
    upper.push(finite(result?.upper));
    middle.push(finite(result?.middle));
    lower.push(finite(result?.lower));
  }
  return { upper, middle, lower };
}

export function rsiSeries(bars: readonly PriceBar[]): Series {
  const rsi = new RSI(14);
  return closes(bars).map((close) => finite(rsi.add(close)));
}

export function macdSeries(bars: readonly PriceBar[]): { macd: Series; signal: Series; histogram: Series } {
  const macd = new MACD(new EMA(12), new EMA(26), new EMA(9));
  const out = { macd: [] as Series, signal: [] as Series, histogram: [] as Series };
  for (const close of closes(bars)) {
    const result = macd.add(close);
    // As in the snapshot: nothing until the signal line has its 9 values.
    const ready = result !== null && macd.signal.isStable;
    out.macd.push(ready ? finite(result.macd) : null);
    out.signal.push(ready ? finite(result.signal) : null);
    out.histogram.push(ready ? finite(result.histogram) : null);
  }
  return out;
}

export function adxSeries(bars: readonly PriceBar[]): { adx: Series; plusDI: Series; minusDI: Series } {
  const adx = new ADX(14);
  const out = { adx: [] as Series, plusDI: [] as Series, minusDI: [] as Series };
  for (const bar of bars) {
    const value = adx.add(bar);
    const stable = adx.isStable;
    out.adx.push(stable ? finite(value) : null);
    out.plusDI.push(stable && typeof adx.pdi === "number" ? finite(adx.pdi * 100) : null);
    out.minusDI.push(stable && typeof adx.mdi === "number" ? finite(adx.mdi * 100) : null);
  }
  return out;
}

/** On-balance volume from the first bar (0 there). */
export function obvSeries(bars: readonly PriceBar[]): Series {
  let total = 0;
  return bars.map((bar, i) => {
    const previous = bars[i - 1];
    if (previous !== undefined) {
      if (bar.close > previous.close) total += bar.volume;
      else if (bar.close < previous.close) total -= bar.volume;
    }
    return total;
  });
}

/** Rolling `period`-bar VWAP of the typical price, as vwap20 in the snapshot. */
export function vwapSeries(bars: readonly PriceBar[], period = 20): Series {
  return bars.map((_, i) => {
    if (i + 1 < period) return null;
    let weighted = 0;
    let volume = 0;
    for (let k = i + 1 - period; k <= i; k++) {
      const bar = bars[k] as PriceBar;
      weighted += ((bar.high + bar.low + bar.close) / 3) * bar.volume;
      volume += bar.volume;
    }
    return volume === 0 ? null : weighted / volume;
  });
}

/** Mean volume of the `period` bars ending at each bar. */
export function averageVolumeSeries(bars: readonly PriceBar[], period = 20): Series {
  return bars.map((_, i) => {
    if (i + 1 < period) return null;
    let sum = 0;
    for (let k = i + 1 - period; k <= i; k++) sum += (bars[k] as PriceBar).volume;
    return sum / period;
  });
}

/** The highest high and lowest low of the `period` bars before each bar: the range a breakout leaves. */
export function donchianSeries(bars: readonly PriceBar[], period = 20): { upper: Series; lower: Series } {
  const upper: Series = [];
  const lower: Series = [];
  bars.forEach((_, i) => {
    if (i < period) {
      upper.push(null);
      lower.push(null);
      return;
    }
    const prior = bars.slice(i - period, i);
    upper.push(Math.max(...prior.map((bar) => bar.high)));
    lower.push(Math.min(...prior.map((bar) => bar.low)));
  });
  return { upper, lower };
}
