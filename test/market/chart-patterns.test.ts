import { describe, expect, it } from "vitest";
import { findBreakouts, findDoublePatterns } from "../../src/market/chart-patterns.js";
import type { PriceBar } from "../../src/market/types.js";
import { weekdays } from "./fixtures.js";

/** Bars whose open equals the close and whose range is close ± 1: the highs are the closes + 1. */
function flatBars(closes: number[], volumes: number[] = []): PriceBar[] {
  const dates = weekdays(closes.length);
  return closes.map((close, i) => ({
    date: dates[i] as string,
    open: close,
    high: close + 1,
    low: close - 1,
    close,
    volume: volumes[i] ?? 1000,
  }));
}

/** Closes walking in a straight line from `from` (excluded) to `to` (included) in `steps` bars. */
function walk(from: number, to: number, steps: number): number[] {
  return Array.from({ length: steps }, (_, i) => from + ((to - from) * (i + 1)) / steps);
}

// Bar 0 at 100, up to 120 at bar 10, down to 110 at bar 20, up to 119 at bar 30, then down
// a point a bar to 104 at bar 45.
const TOP = [100, ...walk(100, 120, 10), ...walk(120, 110, 10), ...walk(110, 119, 10), ...walk(119, 104, 15)];

describe("double tops and bottoms on hand-made bars", () => {
  it("finds the top: peaks at bars 10 and 30, neckline at the trough, confirmed on the first close below it", () => {
    const bars = flatBars(TOP);
    // Peaks: highs 121 and 120 (within 3% of 121); trough low 109 is 9.2% under 120; the first
    // close below 109 is 108, at bar 41.
    expect(findDoublePatterns(bars)).toEqual([
      {
        kind: "double_top",
        first: { index: 10, date: bars[10]?.date, price: 121 },
        second: { index: 30, date: bars[30]?.date, price: 120 },
        neckline: { index: 20, date: bars[20]?.date, price: 109 },
        status: "confirmed",
        confirmedDate: bars[41]?.date,
      },
    ]);
  });

  it("calls it forming while price is still above the neckline", () => {
    const [pattern] = findDoublePatterns(flatBars(TOP.slice(0, 40))); // last close 110
    expect(pattern).toMatchObject({ kind: "double_top", status: "forming", confirmedDate: null });
  });

  it("drops a top once price closes above the higher peak (which here completes a double bottom)", () => {
    const bars = flatBars([...TOP.slice(0, 38), 125, 126, 127, 128, 129, 130]);
    // Lows 109 (bar 20) and 111 (bar 37, close 112) with the 120 high of bar 30 between:
    // a bottom, confirmed by the close of 125 at bar 38. The top is gone.
    expect(findDoublePatterns(bars)).toEqual([
      {
        kind: "double_bottom",
        first: { index: 20, date: bars[20]?.date, price: 109 },
        second: { index: 37, date: bars[37]?.date, price: 111 },
        neckline: { index: 30, date: bars[30]?.date, price: 120 },
        status: "confirmed",
        confirmedDate: bars[38]?.date,
      },
    ]);
  });

  it("wants peaks within 3% of each other and a real pullback between them", () => {
    const uneven = [
      100,
      ...walk(100, 120, 10),
      ...walk(120, 110, 10),
      ...walk(110, 114, 10),
      ...walk(114, 100, 15),
    ];
    expect(findDoublePatterns(flatBars(uneven))).toEqual([]); // 121 vs 115
    const shallow = [
      100,
      ...walk(100, 120, 10),
      ...walk(120, 118, 10),
      ...walk(118, 119.5, 10),
      ...walk(119.5, 104, 15),
    ];
    expect(findDoublePatterns(flatBars(shallow))).toEqual([]); // trough 117 is 2.9% under the 120.5 peak
  });

  it("finds the mirror image as a double bottom", () => {
    const bars = flatBars(TOP.map((close) => 240 - close));
    // Troughs: lows 119 and 120; the peak between them is high 131; the first close above it is 132.
    expect(findDoublePatterns(bars)).toEqual([
      {
        kind: "double_bottom",
        first: { index: 10, date: bars[10]?.date, price: 119 },
        second: { index: 30, date: bars[30]?.date, price: 120 },
        neckline: { index: 20, date: bars[20]?.date, price: 131 },
        status: "confirmed",
        confirmedDate: bars[41]?.date,
      },
    ]);
  });
});

describe("breakouts of the 20-bar range", () => {
  const base = Array.from({ length: 25 }, () => 100); // highs 101, lows 99, volume 1000

  it("flags a close above the prior 20 highs, confirmed by volume ≥ 1.5× their average", () => {
    const bars = flatBars([...base, 103], [...base.map(() => 1000), 2000]);
    expect(findBreakouts(bars)).toEqual([
      {
        index: 25,
        date: bars[25]?.date,
        direction: "up",
        level: 101,
        close: 103,
        volumeRatio: 2,
        volumeConfirmed: true,
      },
    ]);
  });

  it("leaves a breakout on ordinary volume unconfirmed", () => {
    const [breakout] = findBreakouts(flatBars([...base, 103], [...base.map(() => 1000), 1200]));
    expect(breakout).toMatchObject({ direction: "up", volumeRatio: 1.2, volumeConfirmed: false });
  });

  it("flags a close below the prior 20 lows as a breakdown", () => {
    const [breakdown] = findBreakouts(flatBars([...base, 97]));
    expect(breakdown).toMatchObject({ direction: "down", level: 99, close: 97, volumeRatio: 1 });
  });

  it("counts a run of closes beyond the range once, and a close exactly at the level not at all", () => {
    // 103 breaks 101; 104.5 is above 104 (bar 25's high) but continues the same breakout.
    expect(findBreakouts(flatBars([...base, 103, 104.5])).map((b) => b.index)).toEqual([25]);
    expect(findBreakouts(flatBars([...base, 101]))).toEqual([]);
  });
});
