import { type MarketInputs, prepareMarketInputs } from "../analysis/market-inputs.js";
import { stagePromptParts } from "../analysis/prompts.js";
import { marketStageInput, stageInput } from "../analysis/stage-inputs.js";
import { ANALYSIS_STAGES } from "../analysis/stages.js";
import { CHART_TITLES, type ChartKind } from "../market/chart/chart-kinds.js";
import { type ChartStage, STAGE_CHART_KINDS } from "../market/chart/render.js";
import type { PriceSeries } from "../market/types.js";
import type { StageReport } from "./report-data.js";

/**
 * Whether the model saw this very image: `verified` when the stage's recorded input
 * fingerprint (prompt + image digest) is the one this chart gives; `not_shown` when it is the
 * fingerprint of the prompt without a chart (the analysis ran with CHARTS=off); `unverified`
 * otherwise (no call recorded, or the prompt or chart code changed since).
 */
export type ChartCheck = "verified" | "not_shown" | "unverified";

export interface ReportChart {
  callType: ChartStage;
  kind: ChartKind;
  title: string;
  png: Buffer;
  check: ChartCheck;
}

/**
 * The four charts of the chart-reading stages, drawn from `series` by the pipeline's own
 * path (prepareMarketInputs → stageChartsFor → renderStageCharts: same indicators, same
 * rendering, same process cache), then checked against what each stage recorded it was sent.
 */
export async function regenerateCharts(
  series: PriceSeries,
  model: string,
  stages: readonly StageReport[],
): Promise<ReportChart[]> {
  // A provider of exactly these bars: the inputs are derived as the pipeline derives them.
  const inputs = await prepareMarketInputs({ load: async () => series }, series.ticker, { charts: true });
  if (!inputs) return [];
  const charts: ReportChart[] = [];
  for (const [callType, kind] of Object.entries(STAGE_CHART_KINDS) as [ChartStage, ChartKind][]) {
    const image = inputs.charts[callType];
    if (!image) continue;
    const recorded = stages.find((s) => s.callType === callType)?.inputHashes ?? [];
    charts.push({
      callType,
      kind,
      title: CHART_TITLES[kind],
      png: Buffer.from(image.data, "base64"),
      check: chartCheck(inputs, model, callType, recorded),
    });
  }
  return charts;
}

function chartCheck(
  inputs: MarketInputs,
  model: string,
  callType: ChartStage,
  recorded: string[],
): ChartCheck {
  const stage = ANALYSIS_STAGES.find((s) => s.callType === callType);
  if (!stage || recorded.length === 0) return "unverified";
  if (recorded.includes(marketStageInput(inputs, model, stage).inputHash)) return "verified";
  const withoutChart = stageInput(model, stage, stagePromptParts(inputs.brief, stage)).inputHash;
  return recorded.includes(withoutChart) ? "not_shown" : "unverified";
}
