import type { IndicatorSnapshot } from "../indicators.js";
import type { PriceSeries } from "../types.js";
import type { ChartSize } from "./frame.js";
import { levelsChart, reversalChart } from "./pattern-charts.js";
import { overviewChart, volumeChart } from "./trend-charts.js";

/** One chart per stage that reads pictures (see STAGE_CHART_KINDS). */
export type ChartKind = "overview" | "volume" | "reversal" | "levels";
export const CHART_KINDS: readonly ChartKind[] = ["overview", "volume", "reversal", "levels"];

export const CHART_TITLES: Record<ChartKind, string> = {
  overview: "price, SMA 20/50/200, Bollinger (20, 2), volume, RSI (14), MACD (12, 26, 9)",
  volume: "price with VWAP (20), volume against its 20-day average, on-balance volume",
  reversal: "candlestick and double top/bottom patterns, RSI (14)",
  levels: "support/resistance, 20-bar range breakouts, floor pivots for the next session, ADX (14)",
};

const BUILDERS = {
  overview: overviewChart,
  volume: volumeChart,
  reversal: reversalChart,
  levels: levelsChart,
} satisfies Record<ChartKind, unknown>;

/** The SVG of one chart kind; every level and pattern on it is the one the prompt states. */
export function buildChartSvg(
  series: PriceSeries,
  ind: IndicatorSnapshot,
  kind: ChartKind,
  size: ChartSize,
): string {
  return BUILDERS[kind](series, ind, size, `${series.ticker} — ${CHART_TITLES[kind]}`);
}
