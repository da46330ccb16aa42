import type { PriceBar } from "../../src/market/types.js";

/** Consecutive weekdays from 2024-01-01 (a Monday). */
export function weekdays(count: number, start = "2024-01-01"): string[] {
  const dates: string[] = [];
  const day = new Date(`${start}T00:00:00Z`);
  while (dates.length < count) {
    const weekday = day.getUTCDay();
    if (weekday !== 0 && weekday !== 6) dates.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return dates;
}

/**
 * Bars from closes: open is the previous close, the range is close ± spread (widened to
 * cover the open), volumes cycle through a fixed pattern so weighted averages differ from plain ones.
 */
export function barsFromCloses(closes: readonly number[], spread = 1): PriceBar[] {
  const dates = weekdays(closes.length);
  const volumes = [1000, 1500, 800, 2200, 1200];
  return closes.map((close, i) => {
    const open = i === 0 ? close : (closes[i - 1] as number);
    return {
      date: dates[i] as string,
      open,
      high: Math.max(open, close) + spread,
      low: Math.min(open, close) - spread,
      close,
      volume: volumes[i % volumes.length] as number,
    };
  });
}

/** Every number anywhere in a JSON-like value. */
export function numbersIn(value: unknown): number[] {
  if (typeof value === "number") return [value];
  if (Array.isArray(value)) return value.flatMap(numbersIn);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(numbersIn);
  return [];
}
