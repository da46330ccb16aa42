import type { SamplePriceProvider } from "../market/sample-provider.js";
import type { Sql } from "../store/database.js";
import { recoverPriceData, type UsedPriceData } from "./price-data.js";
import { type ReportChart, regenerateCharts } from "./report-charts.js";
import { type AnalysisRecord, loadAnalysisRecord } from "./report-data.js";

/** Everything a rendered report shows, gathered once for the Markdown and the HTML renderers. */
export interface AnalysisReport extends AnalysisRecord {
  prices: UsedPriceData;
  /** The four charts, or null when they were not asked for (see ReportOptions.charts). */
  charts: ReportChart[] | null;
}

export interface ReportOptions {
  /** Draw the charts (~100 ms of CPU each): only when the output will carry them. */
  charts: boolean;
  /** The shipped samples, shared so they are parsed once per process. */
  samples: SamplePriceProvider;
}

/** Reads an analysis and what it was based on; null for an unknown id. */
export async function buildReport(
  sql: Sql,
  id: string,
  options: ReportOptions,
): Promise<AnalysisReport | null> {
  const record = await loadAnalysisRecord(sql, id);
  if (!record) return null;
  const prices = await recoverPriceData(sql, options.samples, record.row);
  const charts =
    options.charts && prices.series
      ? await regenerateCharts(prices.series, record.row.model, record.stages)
      : options.charts
        ? []
        : null;
  return { ...record, prices, charts };
}
