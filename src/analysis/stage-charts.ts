import { createHash } from "node:crypto";
import { renderStageCharts } from "../market/chart/render.js";
import type { IndicatorSnapshot } from "../market/indicators.js";
import type { PriceSeries } from "../market/types.js";

/** A chart ready to send inline, with a digest so input fingerprints need not rehash the bytes. */
export interface StageImage {
  mimeType: string;
  data: string;
  digest: string;
}

const MAX_CACHED_SERIES = 32;
const rendered = new Map<string, Promise<Partial<Record<string, StageImage>>>>();

/** sha256 of the bars an analysis used: equal hashes, equal data. */
export function barsHash(series: PriceSeries): string {
  return createHash("sha256").update(JSON.stringify(series.bars)).digest("hex");
}

/**
 * The charts shown to comprehensive_overview, volume_analysis, reversal_patterns and
 * continuation_levels, rendered once per ticker and price data in this process (rendering
 * costs ~100 ms of CPU a chart; the same data is analysed many times a day).
 */
export function stageChartsFor(
  series: PriceSeries,
  indicators: IndicatorSnapshot,
  dataHash: string,
): Promise<Partial<Record<string, StageImage>>> {
  const key = `${series.ticker}:${dataHash}`;
  let charts = rendered.get(key);
  if (charts) {
    // Most recently used last, so the oldest is the one dropped.
    rendered.delete(key);
    rendered.set(key, charts);
    return charts;
  }
  charts = renderStageCharts(series, indicators).then((images) =>
    Object.fromEntries(
      Object.entries(images).map(([stage, image]) => {
        const data = image.png.toString("base64");
        return [
          stage,
          { mimeType: image.mimeType, data, digest: createHash("sha256").update(data).digest("hex") },
        ];
      }),
    ),
  );
  charts.catch(() => rendered.delete(key)); // a failed render is retried next time
  rendered.set(key, charts);
  if (rendered.size > MAX_CACHED_SERIES) rendered.delete(rendered.keys().next().value as string);
  return charts;
}
