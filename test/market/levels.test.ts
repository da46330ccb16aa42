import { describe, expect, it } from "vitest";
import {
  clusterLevels,
  findSupportResistance,
  findSwingPoints,
  type SwingPoint,
} from "../../src/market/levels.js";
import type { PriceBar } from "../../src/market/types.js";
import { weekdays } from "./fixtures.js";

/**
 * A zig-zag through the given turning points, 5 bars per leg. Each bar spans its close
 * ± 0.5 and opens at its close, so a swing high is turn + 0.5 and a swing low turn - 0.5.
 */
function zigZag(turns: number[]): PriceBar[] {
  const closes: number[] = [turns[0] as number];
  turns.slice(1).forEach((turn, leg) => {
    const from = turns[leg] as number;
    for (let step = 1; step <= 5; step++) closes.push(from + ((turn - from) * step) / 5);
  });
  const dates = weekdays(closes.length);
  return closes.map((close, i) => ({
    date: dates[i] as string,
    open: close,
    high: close + 0.5,
    low: close - 0.5,
    close,
    volume: 1000,
  }));
}

// Lows near 100 three times and once at 95; highs near 110.5 three times and once at 120.5; ends at 105.
const TURNS = [105, 100, 110, 100.5, 110.8, 95, 120, 100.2, 109.5, 105];

describe("findSwingPoints", () => {
  it("finds each turn of a zig-zag, and nothing on the legs", () => {
    const points = findSwingPoints(zigZag(TURNS), 5);
    expect(points.map(({ index, kind, price }) => ({ index, kind, price }))).toEqual([
      { index: 5, kind: "low", price: 99.5 },
      { index: 10, kind: "high", price: 110.5 },
      { index: 15, kind: "low", price: 100 },
      { index: 20, kind: "high", price: 111.3 },
      { index: 25, kind: "low", price: 94.5 },
      { index: 30, kind: "high", price: 120.5 },
      { index: 35, kind: "low", price: 99.7 },
      { index: 40, kind: "high", price: 110 },
    ]);
  });

  it("needs a full window on both sides, so the first and last bars never qualify", () => {
    expect(findSwingPoints(zigZag([100, 110]), 5)).toEqual([]);
  });

  it("reports one swing point for a flat top", () => {
    const bars = zigZag([100, 110, 100]);
    const top = bars[5] as PriceBar;
    bars[6] = { ...(bars[6] as PriceBar), high: top.high };
    expect(findSwingPoints(bars, 3).filter((point) => point.kind === "high")).toHaveLength(1);
  });
});

describe("clusterLevels", () => {
  const point = (price: number, index: number): SwingPoint => ({
    index,
    date: `2024-01-${10 + index}`,
    price,
    kind: "low",
  });

  it("merges points within the tolerance of a cluster's lowest price", () => {
    const levels = clusterLevels([point(100, 1), point(101, 2), point(100.4, 3), point(110, 4)], 0.015);
    expect(levels).toEqual([
      { price: (100 + 100.4 + 101) / 3, touches: 3, lastTouched: "2024-01-13" },
      { price: 110, touches: 1, lastTouched: "2024-01-14" },
    ]);
  });

  it("does not chain a ladder of prices into one wide zone", () => {
    const levels = clusterLevels([point(100, 1), point(101, 2), point(102, 3), point(103, 4)], 0.015);
    expect(levels.map((level) => level.touches)).toEqual([2, 2]);
  });
});

describe("findSupportResistance", () => {
  it("returns the clustered levels nearest the last close on each side, with touch counts", () => {
    const { support, resistance } = findSupportResistance(zigZag(TURNS));
    expect(support.map((level) => level.touches)).toEqual([3, 1]);
    expect(support[0]?.price).toBeCloseTo((99.5 + 100 + 99.7) / 3, 10);
    expect(support[1]?.price).toBeCloseTo(94.5, 10);
    expect(resistance.map((level) => level.touches)).toEqual([3, 1]);
    expect(resistance[0]?.price).toBeCloseTo((110.5 + 111.3 + 110) / 3, 10);
    expect(resistance[1]?.price).toBeCloseTo(120.5, 10);
  });

  it("keeps only the nearest `count` levels per side", () => {
    const { support, resistance } = findSupportResistance(zigZag(TURNS), { count: 1 });
    expect(support).toHaveLength(1);
    expect(resistance).toHaveLength(1);
  });

  it("is empty without bars", () => {
    expect(findSupportResistance([])).toEqual({ support: [], resistance: [] });
  });
});
