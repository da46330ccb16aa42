import type { PriceBar } from "./types.js";

// Statistics computed by hand: trading-signals has no rolling form of them.

export interface YearRange {
  high: number;
  highDate: string;
  low: number;
  lowDate: string;
  /** False when the series covers less than a year, so the range is of a shorter span. */
  fullYear: boolean;
}

export interface VolumeStats {
  last: number | null;
  average20: number | null;
  /** Last volume over the 20-day average: above 1 means busier than usual. */
  ratioToAverage20: number | null;
}

/** NaN and ±Infinity become null, so snapshots stay JSON-safe and honest. */
export function finiteOrNull(value: number | null | undefined): number | null {
  return value !== null && value !== undefined && Number.isFinite(value) ? value : null;
}

/** Close-to-close change over the last `sessions` bars, in percent. */
export function percentChange(bars: readonly PriceBar[], sessions: number): number | null {
  const last = bars.at(-1);
  const base = bars.at(-1 - sessions);
  if (last === undefined || base === undefined || bars.length <= sessions) return null;
  return finiteOrNull((last.close / base.close - 1) * 100);
}

/** Volume-weighted average of the typical price (high + low + close) / 3 over the last `period` bars. */
export function rollingVwap(bars: readonly PriceBar[], period = 20): number | null {
  if (bars.length < period) return null;
  let weighted = 0;
  let volume = 0;
  for (const bar of bars.slice(-period)) {
    weighted += ((bar.high + bar.low + bar.close) / 3) * bar.volume;
    volume += bar.volume;
  }
  return volume === 0 ? null : finiteOrNull(weighted / volume);
}

/** Highest high and lowest low of the bars dated within a year of the last bar. */
export function fiftyTwoWeekRange(bars: readonly PriceBar[]): YearRange | null {
  const last = bars.at(-1);
  const first = bars[0];
  if (last === undefined || first === undefined) return null;
  const yearAgo = shiftYears(last.date, -1);
  let range: YearRange | null = null;
  for (const bar of bars) {
    if (bar.date <= yearAgo) continue;
    if (range === null) {
      range = {
        high: bar.high,
        highDate: bar.date,
        low: bar.low,
        lowDate: bar.date,
        fullYear: first.date <= yearAgo,
      };
      continue;
    }
    // >= and <= keep the most recent date of a repeated extreme.
    if (bar.high >= range.high) Object.assign(range, { high: bar.high, highDate: bar.date });
    if (bar.low <= range.low) Object.assign(range, { low: bar.low, lowDate: bar.date });
  }
  return range;
}

export function volumeStats(bars: readonly PriceBar[], period = 20): VolumeStats {
  const last = bars.at(-1)?.volume ?? null;
  if (bars.length < period) return { last, average20: null, ratioToAverage20: null };
  const average = bars.slice(-period).reduce((sum, bar) => sum + bar.volume, 0) / period;
  return {
    last,
    average20: finiteOrNull(average),
    ratioToAverage20: average === 0 || last === null ? null : finiteOrNull(last / average),
  };
}

/** Least-squares slope of `values` against their index (units per bar). */
export function linearSlope(values: readonly number[]): number | null {
  const n = values.length;
  if (n < 2) return null;
  const meanX = (n - 1) / 2;
  const meanY = values.reduce((sum, value) => sum + value, 0) / n;
  let covariance = 0;
  let variance = 0;
  values.forEach((value, x) => {
    covariance += (x - meanX) * (value - meanY);
    variance += (x - meanX) ** 2;
  });
  return finiteOrNull(covariance / variance);
}

function shiftYears(isoDate: string, years: number): string {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCFullYear(date.getUTCFullYear() + years);
  return date.toISOString().slice(0, 10);
}
