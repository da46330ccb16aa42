import type { PriceBar } from "./types.js";

/** A local extreme: the highest high (or lowest low) within `window` bars on each side. */
export interface SwingPoint {
  index: number;
  date: string;
  price: number;
  kind: "high" | "low";
}

/** A price zone where swing points cluster; more touches make it a stronger level. */
export interface PriceLevel {
  price: number;
  touches: number;
  lastTouched: string;
}

export interface SupportResistance {
  /** Nearest first: descending prices at or below the last close. */
  support: PriceLevel[];
  /** Nearest first: ascending prices above the last close. */
  resistance: PriceLevel[];
}

export interface LevelOptions {
  /** Bars on each side a swing point must dominate. */
  window?: number;
  /** Swing points within this fraction above a cluster's lowest price join it. */
  tolerance?: number;
  /** Only the most recent bars count: levels from years ago rarely matter. */
  lookback?: number;
  /** Levels kept on each side of the last close. */
  count?: number;
}

/**
 * Swing highs and lows confirmed by `window` bars on both sides, in bar order. With equal
 * extremes the earliest bar wins, so a flat top yields one swing point, not several.
 */
export function findSwingPoints(bars: readonly PriceBar[], window = 5): SwingPoint[] {
  const points: SwingPoint[] = [];
  for (let i = window; i < bars.length - window; i++) {
    const bar = bars[i] as PriceBar;
    let isHigh = true;
    let isLow = true;
    for (let j = i - window; j <= i + window && (isHigh || isLow); j++) {
      if (j === i) continue;
      const other = bars[j] as PriceBar;
      if (j < i ? other.high >= bar.high : other.high > bar.high) isHigh = false;
      if (j < i ? other.low <= bar.low : other.low < bar.low) isLow = false;
    }
    if (isHigh) points.push({ index: i, date: bar.date, price: bar.high, kind: "high" });
    if (isLow) points.push({ index: i, date: bar.date, price: bar.low, kind: "low" });
  }
  return points;
}

/**
 * Groups swing prices, highs and lows alike (an old top often becomes support), into
 * levels: walking up in price, a point joins the current cluster while it lies within
 * `tolerance` of the cluster's lowest price. Measuring from the lowest member (not a moving
 * mean) stops a ladder of close prices from chaining into one wide zone. Returns levels in
 * ascending price order, each at its members' mean price.
 */
export function clusterLevels(points: readonly SwingPoint[], tolerance = 0.015): PriceLevel[] {
  const sorted = [...points].sort((a, b) => a.price - b.price || a.index - b.index);
  const clusters: SwingPoint[][] = [];
  for (const point of sorted) {
    const current = clusters.at(-1);
    const floor = current?.[0]?.price;
    if (current !== undefined && floor !== undefined && point.price <= floor * (1 + tolerance)) {
      current.push(point);
    } else {
      clusters.push([point]);
    }
  }
  return clusters.map((members) => ({
    price: members.reduce((sum, point) => sum + point.price, 0) / members.length,
    touches: members.length,
    lastTouched: members.reduce((latest, point) => (point.date > latest ? point.date : latest), ""),
  }));
}

/** The nearest support and resistance levels around the last close. */
export function findSupportResistance(bars: readonly PriceBar[], opts: LevelOptions = {}): SupportResistance {
  const { window = 5, tolerance = 0.015, lookback = 250, count = 3 } = opts;
  const last = bars.at(-1);
  if (last === undefined) return { support: [], resistance: [] };
  const levels = clusterLevels(findSwingPoints(bars.slice(-lookback), window), tolerance);
  return {
    support: levels
      .filter((level) => level.price <= last.close)
      .reverse()
      .slice(0, count),
    resistance: levels.filter((level) => level.price > last.close).slice(0, count),
  };
}
