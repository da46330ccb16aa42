import { type ResvgRenderOptions, renderAsync } from "@resvg/resvg-js";
import type { IndicatorSnapshot } from "../indicators.js";
import type { PriceSeries } from "../types.js";
import { buildChartSvg, type ChartKind } from "./chart-kinds.js";
import { chartFonts } from "./fonts.js";
import type { ChartSize } from "./frame.js";

/** A rendered chart, ready to send as an inlineData part ({ mimeType, data: png.toString("base64") }). */
export interface ChartImage {
  png: Buffer;
  width: number;
  height: number;
  kind: ChartKind;
  mimeType: "image/png";
}

/**
 * 1024×768 by default: 4:3 reads well, and by Gemini's tiling rule (crop unit = shorter side
 * / 1.5, 768 px tiles at 258 tokens each) it is 2 × 2 tiles, about 1,032 input tokens.
 */
export const DEFAULT_CHART_SIZE: ChartSize = { width: 1024, height: 768 };

/** The stage that reads each chart kind. */
export const STAGE_CHART_KINDS = {
  comprehensive_overview: "overview",
  volume_analysis: "volume",
  reversal_patterns: "reversal",
  continuation_levels: "levels",
} as const satisfies Record<string, ChartKind>;

export type ChartStage = keyof typeof STAGE_CHART_KINDS;

/** Renders one chart kind to PNG with resvg (no browser); the work runs off the event loop. */
export async function renderChartPng(
  series: PriceSeries,
  indicators: IndicatorSnapshot,
  kind: ChartKind,
  size: ChartSize = DEFAULT_CHART_SIZE,
): Promise<ChartImage> {
  if (series.bars.length === 0) throw new Error(`no bars to chart for ${series.ticker}`);
  const svg = buildChartSvg(series, indicators, kind, size);
  const image = await renderAsync(svg, resvgOptions(size.width));
  return { png: image.asPng(), width: image.width, height: image.height, kind, mimeType: "image/png" };
}

/** One chart per stage that reads pictures, rendered concurrently. */
export async function renderStageCharts(
  series: PriceSeries,
  indicators: IndicatorSnapshot,
  size: ChartSize = DEFAULT_CHART_SIZE,
): Promise<Record<ChartStage, ChartImage>> {
  const stages = Object.keys(STAGE_CHART_KINDS) as ChartStage[];
  const images = await Promise.all(
    stages.map((stage) => renderChartPng(series, indicators, STAGE_CHART_KINDS[stage], size)),
  );
  return Object.fromEntries(stages.map((stage, i) => [stage, images[i]])) as Record<ChartStage, ChartImage>;
}

function resvgOptions(width: number): ResvgRenderOptions {
  const fonts = chartFonts();
  return {
    fitTo: { mode: "width", value: width },
    background: "#ffffff",
    font: {
      loadSystemFonts: fonts.loadSystemFonts,
      fontFiles: fonts.files,
      ...(fonts.family === null ? {} : { defaultFontFamily: fonts.family, sansSerifFamily: fonts.family }),
    },
    logLevel: "off",
  };
}
