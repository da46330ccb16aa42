import type { PriceBar } from "./types.js";

export type CandlePatternName =
  | "bullish_engulfing"
  | "bearish_engulfing"
  | "doji"
  | "hammer"
  | "shooting_star";

export interface CandlePattern {
  index: number;
  date: string;
  pattern: CandlePatternName;
  /** What the pattern suggests: a doji is indecision, so neutral. */
  bias: "bullish" | "bearish" | "neutral";
}

/** Body at most this share of the day's range: a doji. */
export const DOJI_BODY_RATIO = 0.1;
/** Bars of prior move a reversal pattern needs: close of the bar before vs TREND_LOOKBACK bars earlier. */
export const TREND_LOOKBACK = 5;

/** The anatomy of one candle; shadows are the wicks above and below the body. */
export function candleShape(bar: PriceBar): {
  body: number;
  range: number;
  upperShadow: number;
  lowerShadow: number;
} {
  return {
    body: Math.abs(bar.close - bar.open),
    range: bar.high - bar.low,
    upperShadow: bar.high - Math.max(bar.open, bar.close),
    lowerShadow: Math.min(bar.open, bar.close) - bar.low,
  };
}

/**
 * The move into bar `index`: "down" when the previous close is below the close
 * TREND_LOOKBACK bars before it, "up" when above. Hammers and engulfings only mean a
 * reversal after a move to reverse, so they are gated on it.
 */
export function priorMove(bars: readonly PriceBar[], index: number): "up" | "down" | "flat" | null {
  const previous = bars[index - 1];
  const base = bars[index - 1 - TREND_LOOKBACK];
  if (previous === undefined || base === undefined) return null;
  if (previous.close < base.close) return "down";
  if (previous.close > base.close) return "up";
  return "flat";
}

/**
 * The candlestick patterns of bar `index`, textbook (Nison) rules:
 * - doji: body ≤ 10% of the range (no move needed; it is indecision wherever it is)
 * - hammer: after a decline, body above 10% but at most a third of the range, lower shadow
 *   ≥ 2× body, upper shadow ≤ 10% of the range
 * - shooting star: the mirror image after a rise (long upper shadow, no lower one)
 * - bullish engulfing: after a decline, a down candle then an up candle whose body covers
 *   the previous body (open ≤ previous close, close ≥ previous open, and bigger)
 * - bearish engulfing: the mirror image after a rise
 */
export function candlePatternsAt(bars: readonly PriceBar[], index: number): CandlePattern[] {
  const bar = bars[index];
  if (bar === undefined) return [];
  const found: CandlePattern[] = [];
  const add = (pattern: CandlePatternName, bias: CandlePattern["bias"]) =>
    found.push({ index, date: bar.date, pattern, bias });
  const { body, range, upperShadow, lowerShadow } = candleShape(bar);
  const move = priorMove(bars, index);
  if (range <= 0) return found;

  const isDoji = body <= DOJI_BODY_RATIO * range;
  if (isDoji) add("doji", "neutral");
  const smallBody = !isDoji && body <= range / 3;
  if (smallBody && move === "down" && lowerShadow >= 2 * body && upperShadow <= DOJI_BODY_RATIO * range) {
    add("hammer", "bullish");
  }
  if (smallBody && move === "up" && upperShadow >= 2 * body && lowerShadow <= DOJI_BODY_RATIO * range) {
    add("shooting_star", "bearish");
  }

  const previous = bars[index - 1];
  if (previous !== undefined) {
    const previousBody = Math.abs(previous.close - previous.open);
    const covers = body > previousBody;
    if (
      move === "down" &&
      previous.close < previous.open &&
      bar.close > bar.open &&
      bar.open <= previous.close &&
      bar.close >= previous.open &&
      covers
    ) {
      add("bullish_engulfing", "bullish");
    }
    if (
      move === "up" &&
      previous.close > previous.open &&
      bar.close < bar.open &&
      bar.open >= previous.close &&
      bar.close <= previous.open &&
      covers
    ) {
      add("bearish_engulfing", "bearish");
    }
  }
  return found;
}

/** Every pattern from bar `from` (default: all bars) to the end, in bar order. */
export function findCandlePatterns(bars: readonly PriceBar[], from = 0): CandlePattern[] {
  const found: CandlePattern[] = [];
  for (let i = Math.max(0, from); i < bars.length; i++) found.push(...candlePatternsAt(bars, i));
  return found;
}
