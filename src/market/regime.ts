import type { PriceBar } from "./types.js";

/** Direction from where price and the averages stand; strength from ADX. */
export interface TrendRegime {
  direction: "up" | "down" | "sideways";
  /** ADX ≥ 25 strong, 20–25 moderate, below 20 weak (range-bound); null without ADX. */
  strength: "strong" | "moderate" | "weak" | null;
  /** Which averages decided: 50/200 when there are 200 bars, else 20/50. */
  basis: "sma50/sma200" | "sma20/sma50";
  /** SMA(fast) above SMA(slow): the golden-cross side. */
  fastAboveSlow: boolean;
  label: string;
}

export const ADX_STRONG = 25;
export const ADX_WEAK = 20;

/**
 * Up when close > fast SMA > slow SMA, down when close < fast < slow, else sideways; the
 * fast/slow pair is SMA50/SMA200, or SMA20/SMA50 for series too short for SMA200.
 */
export function trendRegime(
  close: number | null,
  ma: { sma20: number | null; sma50: number | null; sma200: number | null },
  adx: number | null,
): TrendRegime | null {
  if (close === null) return null;
  const pair =
    ma.sma50 !== null && ma.sma200 !== null
      ? { fast: ma.sma50, slow: ma.sma200, basis: "sma50/sma200" as const }
      : ma.sma20 !== null && ma.sma50 !== null
        ? { fast: ma.sma20, slow: ma.sma50, basis: "sma20/sma50" as const }
        : null;
  if (pair === null) return null;
  const direction =
    close > pair.fast && pair.fast > pair.slow
      ? "up"
      : close < pair.fast && pair.fast < pair.slow
        ? "down"
        : "sideways";
  const strength = adx === null ? null : adx >= ADX_STRONG ? "strong" : adx >= ADX_WEAK ? "moderate" : "weak";
  const range = `ADX < ${ADX_WEAK}: range-bound`;
  let label: string;
  if (direction === "sideways") {
    label =
      strength === null
        ? "sideways / mixed"
        : `sideways / mixed (${strength === "weak" ? range : `ADX ${strength}`})`;
  } else {
    const trend = `${direction}trend`;
    label =
      strength === null ? trend : strength === "weak" ? `weak ${trend} (${range})` : `${strength} ${trend}`;
  }
  return { direction, strength, basis: pair.basis, fastAboveSlow: pair.fast > pair.slow, label };
}

/** Is trading busier or quieter than usual, and is volume on the buying or selling side? */
export interface VolumeRegime {
  /** 20-bar over 50-bar average volume: ≥ 1.2 expanding, ≤ 0.8 contracting. */
  trendRatio: number | null;
  trend: "expanding" | "contracting" | "normal" | null;
  /** The last bar against the 20-bar average: ≥ 2 spike, ≥ 1.5 high, ≤ 0.5 low. */
  lastBar: "spike" | "high" | "normal" | "low" | null;
  /** Volume on up closes over volume on down closes, last 20 bars: ≥ 1.2 accumulation, ≤ 0.8 distribution. */
  upDownRatio: number | null;
  pressure: "accumulation" | "distribution" | "balanced" | null;
}

export function volumeRegime(bars: readonly PriceBar[]): VolumeRegime {
  const average = (n: number) =>
    bars.length < n ? null : bars.slice(-n).reduce((sum, bar) => sum + bar.volume, 0) / n;
  const avg20 = average(20);
  const avg50 = average(50);
  const trendRatio = avg20 !== null && avg50 !== null && avg50 > 0 ? avg20 / avg50 : null;
  const last = bars.at(-1);
  const lastRatio = last !== undefined && avg20 !== null && avg20 > 0 ? last.volume / avg20 : null;

  let up = 0;
  let down = 0;
  if (bars.length > 20) {
    for (let i = bars.length - 20; i < bars.length; i++) {
      const bar = bars[i] as PriceBar;
      const previous = bars[i - 1] as PriceBar;
      if (bar.close > previous.close) up += bar.volume;
      else if (bar.close < previous.close) down += bar.volume;
    }
  }
  const counted = bars.length > 20 && up + down > 0;
  const upDownRatio = counted && down > 0 ? up / down : null;
  return {
    trendRatio,
    trend:
      trendRatio === null
        ? null
        : trendRatio >= 1.2
          ? "expanding"
          : trendRatio <= 0.8
            ? "contracting"
            : "normal",
    lastBar:
      lastRatio === null
        ? null
        : lastRatio >= 2
          ? "spike"
          : lastRatio >= 1.5
            ? "high"
            : lastRatio <= 0.5
              ? "low"
              : "normal",
    upDownRatio,
    // No down-close volume at all is accumulation too, though the ratio itself is infinite.
    pressure: !counted
      ? null
      : up >= 1.2 * down
        ? "accumulation"
        : up <= 0.8 * down
          ? "distribution"
          : "balanced",
  };
}
