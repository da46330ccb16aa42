import { findSwingPoints, type SwingPoint } from "./levels.js";
import type { PriceBar } from "./types.js";

export interface PatternPoint {
  index: number;
  date: string;
  price: number;
}

/** Two peaks (or troughs) at about the same price with a pullback between them. */
export interface DoublePattern {
  kind: "double_top" | "double_bottom";
  first: PatternPoint;
  second: PatternPoint;
  /** The pullback's extreme between the two: the trough of a top, the peak of a bottom. */
  neckline: PatternPoint;
  /** Confirmed once a close goes through the neckline after the second peak or trough. */
  status: "forming" | "confirmed";
  confirmedDate: string | null;
}

export interface DoublePatternOptions {
  /** Bars on each side a peak must dominate (as in findSwingPoints). */
  window?: number;
  /** Peaks within this fraction of each other count as equal. */
  tolerance?: number;
  /** The pullback must go at least this fraction beyond the lower peak (higher trough). */
  minDepth?: number;
  minSeparation?: number;
  maxSeparation?: number;
}

const DOUBLE_DEFAULTS: Required<DoublePatternOptions> = {
  window: 5,
  tolerance: 0.03,
  minDepth: 0.03,
  minSeparation: 10,
  maxSeparation: 60,
};

/**
 * Double tops and bottoms, in order of their second peak. A top is two swing highs within
 * `tolerance`, `minSeparation`–`maxSeparation` bars apart, no high between them above the
 * higher one, and a trough at least `minDepth` below the lower one. A later close above the
 * higher peak means it failed, and it is dropped. Bottoms mirror this.
 */
export function findDoublePatterns(
  bars: readonly PriceBar[],
  opts: DoublePatternOptions = {},
): DoublePattern[] {
  const o = { ...DOUBLE_DEFAULTS, ...opts };
  const swings = findSwingPoints(bars, o.window);
  const found = [...pairsOf(bars, swings, "high", o), ...pairsOf(bars, swings, "low", o)];
  return found.sort((a, b) => a.second.index - b.second.index || a.first.index - b.first.index);
}

function pairsOf(
  bars: readonly PriceBar[],
  swings: readonly SwingPoint[],
  side: "high" | "low",
  o: Required<DoublePatternOptions>,
): DoublePattern[] {
  const top = side === "high";
  const points = swings.filter((point) => point.kind === side);
  const found: DoublePattern[] = [];
  for (let j = 1; j < points.length; j++) {
    const second = points[j] as SwingPoint;
    // Pair the second peak with its nearest qualifying predecessor only: one pattern per peak.
    for (let i = j - 1; i >= 0; i--) {
      const first = points[i] as SwingPoint;
      const gap = second.index - first.index;
      if (gap < o.minSeparation) continue;
      if (gap > o.maxSeparation) break;
      const pattern = patternBetween(bars, first, second, top, o);
      if (pattern !== null) {
        found.push(pattern);
        break;
      }
    }
  }
  return found;
}

function patternBetween(
  bars: readonly PriceBar[],
  first: SwingPoint,
  second: SwingPoint,
  top: boolean,
  o: Required<DoublePatternOptions>,
): DoublePattern | null {
  const outer = top ? Math.max(first.price, second.price) : Math.min(first.price, second.price);
  const inner = top ? Math.min(first.price, second.price) : Math.max(first.price, second.price);
  if (Math.abs(first.price - second.price) > o.tolerance * outer) return null;

  // The pullback between the peaks, and no bar between them beyond the pair.
  let neckline: PatternPoint | null = null;
  for (let k = first.index + 1; k < second.index; k++) {
    const bar = bars[k] as PriceBar;
    if (top ? bar.high > outer : bar.low < outer) return null;
    const price = top ? bar.low : bar.high;
    if (neckline === null || (top ? price < neckline.price : price > neckline.price)) {
      neckline = { index: k, date: bar.date, price };
    }
  }
  if (neckline === null) return null;
  const depth = top ? (inner - neckline.price) / inner : (neckline.price - inner) / inner;
  if (depth < o.minDepth) return null;

  // After the second peak: a close through the neckline confirms; a close beyond the peaks,
  // before or after that, means the pattern failed and it is not reported.
  let confirmedDate: string | null = null;
  for (let k = second.index + 1; k < bars.length; k++) {
    const close = (bars[k] as PriceBar).close;
    if (top ? close > outer : close < outer) return null;
    if (confirmedDate === null && (top ? close < neckline.price : close > neckline.price)) {
      confirmedDate = (bars[k] as PriceBar).date;
    }
  }
  const point = (swing: SwingPoint): PatternPoint => ({
    index: swing.index,
    date: swing.date,
    price: swing.price,
  });
  return {
    kind: top ? "double_top" : "double_bottom",
    first: point(first),
    second: point(second),
    neckline,
    status: confirmedDate === null ? "forming" : "confirmed",
    confirmedDate,
  };
}

/** A close through the prior `period`-bar range: above its highest high or below its lowest low. */
export interface Breakout {
  index: number;
  date: string;
  direction: "up" | "down";
  /** The level broken: the highest high (lowest low) of the `period` bars before. */
  level: number;
  close: number;
  /** Volume over the average volume of those `period` bars; null when they traded nothing. */
  volumeRatio: number | null;
  /** Volume at least `volumeFactor` times that average: a breakout the market backed. */
  volumeConfirmed: boolean;
}

/**
 * Donchian-style breakouts. Only the first close through counts: while price keeps closing
 * beyond its prior range bar after bar, that is one breakout, not a new one each day.
 */
export function findBreakouts(
  bars: readonly PriceBar[],
  opts: { period?: number; volumeFactor?: number } = {},
): Breakout[] {
  const period = opts.period ?? 20;
  const volumeFactor = opts.volumeFactor ?? 1.5;
  const found: Breakout[] = [];
  let wasAbove = false;
  let wasBelow = false;
  for (let i = period; i < bars.length; i++) {
    const bar = bars[i] as PriceBar;
    const prior = bars.slice(i - period, i);
    const resistance = Math.max(...prior.map((b) => b.high));
    const support = Math.min(...prior.map((b) => b.low));
    const averageVolume = prior.reduce((sum, b) => sum + b.volume, 0) / period;
    const volumeRatio = averageVolume > 0 ? bar.volume / averageVolume : null;
    const event = (direction: "up" | "down", level: number): Breakout => ({
      index: i,
      date: bar.date,
      direction,
      level,
      close: bar.close,
      volumeRatio,
      volumeConfirmed: volumeRatio !== null && volumeRatio >= volumeFactor,
    });
    const above = bar.close > resistance;
    const below = bar.close < support;
    if (above && !wasAbove) found.push(event("up", resistance));
    if (below && !wasBelow) found.push(event("down", support));
    wasAbove = above;
    wasBelow = below;
  }
  return found;
}
