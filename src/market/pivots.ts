import type { PriceBar } from "./types.js";

/** Classic floor-trader pivots for the session after `basedOn`. */
export interface PivotLevels {
  /** The bar they come from; they apply to the next session. */
  basedOn: string;
  pivot: number;
  r1: number;
  r2: number;
  r3: number;
  s1: number;
  s2: number;
  s3: number;
}

/**
 * P = (H + L + C) / 3; R1 = 2P − L, S1 = 2P − H; R2 = P + (H − L), S2 = P − (H − L);
 * R3 = H + 2(P − L), S3 = L − 2(H − P), from the previous session's bar: for a daily series
 * that ends on the last completed session, the last bar.
 */
export function floorPivots(bar: PriceBar | undefined): PivotLevels | null {
  if (bar === undefined) return null;
  const { high, low, close } = bar;
  const pivot = (high + low + close) / 3;
  const range = high - low;
  return {
    basedOn: bar.date,
    pivot,
    r1: 2 * pivot - low,
    s1: 2 * pivot - high,
    r2: pivot + range,
    s2: pivot - range,
    r3: high + 2 * (pivot - low),
    s3: low - 2 * (high - pivot),
  };
}
