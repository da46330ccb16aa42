import {
  ADX,
  ATR,
  BollingerBands,
  EMA,
  MACD,
  OBV,
  RSI,
  SMA,
  StochasticOscillator,
  type TechnicalIndicator,
} from "trading-signals";
import { type CandlePattern, findCandlePatterns } from "./candles.js";
import { type Breakout, type DoublePattern, findBreakouts, findDoublePatterns } from "./chart-patterns.js";
import { findSupportResistance, type SupportResistance } from "./levels.js";
import { floorPivots, type PivotLevels } from "./pivots.js";
import {
  fiftyTwoWeekRange,
  finiteOrNull,
  linearSlope,
  percentChange,
  rollingVwap,
  type VolumeStats,
  volumeStats,
  type YearRange,
} from "./price-stats.js";
import { type TrendRegime, trendRegime, type VolumeRegime, volumeRegime } from "./regime.js";
import type { PriceBar } from "./types.js";

/**
 * Every indicator the analysis stages read, as of the last bar. A plain JSON-safe object:
 * a value that needs more bars than the series has is null, never NaN.
 */
export interface IndicatorSnapshot {
  asOf: string | null;
  barCount: number;
  lastClose: number | null;
  change: { pct1d: number | null; pct5d: number | null; pct20d: number | null };
  /** Wilder RSI(14). */
  rsi14: number | null;
  /** MACD(12, 26, 9) on EMAs. */
  macd: { macd: number; signal: number; histogram: number } | null;
  /** EMAs are seeded with the first close (trading-signals' convention), so they need a few periods to settle. */
  movingAverages: {
    sma20: number | null;
    sma50: number | null;
    sma200: number | null;
    ema20: number | null;
    ema50: number | null;
    ema200: number | null;
  };
  /** Bollinger(20, 2) on population standard deviation; bandwidth is (upper - lower) / middle. */
  bollinger: {
    upper: number;
    middle: number;
    lower: number;
    percentB: number | null;
    bandwidth: number | null;
  } | null;
  /** Wilder ATR(14). */
  atr14: number | null;
  /** ADX(14) with the directional indicators, all on a 0-100 scale. */
  adx: { adx: number; plusDI: number | null; minusDI: number | null } | null;
  /** On-balance volume from the first bar, and the direction of its 20-bar least-squares slope. */
  obv: { value: number; slope20: number | null; trend20: "rising" | "falling" | "flat" | null } | null;
  /** Stochastic(14, 3): fast %K over 14 bars and %D, its 3-bar SMA. */
  stochastic: { k: number; d: number } | null;
  /** Rolling 20-bar VWAP of the typical price. */
  vwap20: number | null;
  week52: YearRange | null;
  volume: VolumeStats;
  levels: SupportResistance;
  /**
   * Candlestick patterns of the last RECENT_CANDLE_BARS bars, the latest double top and
   * double bottom whose second peak is within PATTERN_LOOKBACK bars, and 20-bar breakouts
   * of the last RECENT_BREAKOUT_BARS bars.
   */
  patterns: { candles: CandlePattern[]; doubles: DoublePattern[]; breakouts: Breakout[] };
  /** Classic floor pivots from the last bar, for the next session. */
  pivots: PivotLevels | null;
  trend: TrendRegime | null;
  volumeRegime: VolumeRegime;
}

export const RECENT_CANDLE_BARS = 5;
export const PATTERN_LOOKBACK = 120;
export const RECENT_BREAKOUT_BARS = 10;

// An OBV slope smaller than this share of the average daily volume counts as flat.
const FLAT_OBV_SLOPE = 0.02;

/** Computes the snapshot from bars in ascending date order. */
export function computeIndicators(bars: readonly PriceBar[]): IndicatorSnapshot {
  const last = bars.at(-1);
  const volume = volumeStats(bars);
  const movingAverages = {
    sma20: finalValue(new SMA(20), closes(bars)),
    sma50: finalValue(new SMA(50), closes(bars)),
    sma200: finalValue(new SMA(200), closes(bars)),
    ema20: finalValue(new EMA(20), closes(bars)),
    ema50: finalValue(new EMA(50), closes(bars)),
    ema200: finalValue(new EMA(200), closes(bars)),
  };
  const adx = adxOf(bars);
  return {
    asOf: last?.date ?? null,
    barCount: bars.length,
    lastClose: last?.close ?? null,
    change: { pct1d: percentChange(bars, 1), pct5d: percentChange(bars, 5), pct20d: percentChange(bars, 20) },
    rsi14: finalValue(new RSI(14), closes(bars)),
    macd: macdOf(bars),
    movingAverages,
    bollinger: bollingerOf(bars),
    atr14: finalValue(new ATR(14), bars),
    adx,
    obv: obvOf(bars, volume.average20),
    stochastic: stochasticOf(bars),
    vwap20: rollingVwap(bars, 20),
    week52: fiftyTwoWeekRange(bars),
    volume,
    levels: findSupportResistance(bars),
    patterns: patternsOf(bars),
    pivots: floorPivots(last),
    trend: trendRegime(last?.close ?? null, movingAverages, adx?.adx ?? null),
    volumeRegime: volumeRegime(bars),
  };
}

function patternsOf(bars: readonly PriceBar[]): IndicatorSnapshot["patterns"] {
  const n = bars.length;
  const recentDoubles = findDoublePatterns(bars).filter((p) => p.second.index >= n - PATTERN_LOOKBACK);
  const latest = (kind: DoublePattern["kind"]) => recentDoubles.filter((p) => p.kind === kind).at(-1);
  return {
    candles: findCandlePatterns(bars, n - RECENT_CANDLE_BARS),
    doubles: [latest("double_top"), latest("double_bottom")].filter((p) => p !== undefined),
    breakouts: findBreakouts(bars).filter((b) => b.index >= n - RECENT_BREAKOUT_BARS),
  };
}

function closes(bars: readonly PriceBar[]): number[] {
  return bars.map((bar) => bar.close);
}

/** Feeds every input and returns the result only once the indicator has had enough data. */
function finalValue<Input>(
  indicator: TechnicalIndicator<number, Input>,
  inputs: readonly Input[],
): number | null {
  for (const input of inputs) indicator.add(input);
  return indicator.isStable ? finiteOrNull(indicator.getResult()) : null;
}

function macdOf(bars: readonly PriceBar[]): IndicatorSnapshot["macd"] {
  const macd = new MACD(new EMA(12), new EMA(26), new EMA(9));
  for (const close of closes(bars)) macd.add(close);
  // The signal line is an EMA of MACD values and needs 9 of them before it means anything.
  const result = macd.signal.isStable ? macd.getResult() : null;
  if (result === null) return null;
  return allFinite({ macd: result.macd, signal: result.signal, histogram: result.histogram });
}

function bollingerOf(bars: readonly PriceBar[]): IndicatorSnapshot["bollinger"] {
  const bands = new BollingerBands(20, 2);
  for (const close of closes(bars)) bands.add(close);
  const result = bands.getResult();
  const close = bars.at(-1)?.close;
  if (result === null || close === undefined) return null;
  const width = result.upper - result.lower;
  const core = allFinite({ upper: result.upper, middle: result.middle, lower: result.lower });
  if (core === null) return null;
  return {
    ...core,
    // Flat prices give zero width; %B is then undefined rather than infinite.
    percentB: width === 0 ? null : finiteOrNull((close - result.lower) / width),
    bandwidth: result.middle === 0 ? null : finiteOrNull(width / result.middle),
  };
}

function adxOf(bars: readonly PriceBar[]): IndicatorSnapshot["adx"] {
  const adx = new ADX(14);
  for (const bar of bars) adx.add(bar);
  const value = adx.isStable ? finiteOrNull(adx.getResult()) : null;
  if (value === null) return null;
  // trading-signals reports the directional indicators as ratios; scale them like ADX.
  const scaled = (ratio: unknown) => (typeof ratio === "number" ? finiteOrNull(ratio * 100) : null);
  return { adx: value, plusDI: scaled(adx.pdi), minusDI: scaled(adx.mdi) };
}

function obvOf(bars: readonly PriceBar[], averageVolume: number | null): IndicatorSnapshot["obv"] {
  // OBV(2) compares each close with the previous one: the classic running total.
  const obv = new OBV(2);
  const history: number[] = [];
  for (const bar of bars) {
    const value = obv.add(bar);
    if (value !== null) history.push(value);
  }
  const value = finiteOrNull(history.at(-1));
  if (value === null) return null;
  const slope20 = history.length >= 20 ? linearSlope(history.slice(-20)) : null;
  return { value, slope20, trend20: trendOf(slope20, averageVolume) };
}

function trendOf(slope: number | null, averageVolume: number | null): "rising" | "falling" | "flat" | null {
  if (slope === null) return null;
  if (Math.abs(slope) <= FLAT_OBV_SLOPE * (averageVolume ?? 0)) return "flat";
  return slope > 0 ? "rising" : "falling";
}

function stochasticOf(bars: readonly PriceBar[]): IndicatorSnapshot["stochastic"] {
  const stochastic = new StochasticOscillator({ kPeriod: 14, kSlowingPeriod: 1, dPeriod: 3 });
  for (const bar of bars) stochastic.add(bar);
  const result = stochastic.getResult();
  return result === null ? null : allFinite({ k: result.stochK, d: result.stochD });
}

/** The record itself when every value is finite, else null: a half-valid group would mislead. */
function allFinite<T extends Record<string, number>>(values: T): T | null {
  return Object.values(values).every(Number.isFinite) ? values : null;
}
