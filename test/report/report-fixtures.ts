import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import type { FaultRule } from "../../src/llm/emulator/index.js";
import { logger } from "../../src/logger.js";
import { createPriceProvider } from "../../src/market/create-provider.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";
import type { PriceBar } from "../../src/market/types.js";
import { type AnalysisReport, buildReport } from "../../src/report/build-report.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { importPriceBars } from "../../src/store/price-bars-repo.js";
import type { PipelineHarness } from "../helpers/pipeline-harness.js";

/** Reports in these tests share one sample parse, as a server does. */
export const samples = new SamplePriceProvider();

/**
 * Runs a real analysis (emulator, Postgres) with the given faults; with `imported` it reads
 * prices as a worker does (imported bars first), else the shipped samples (the harness' default).
 */
export async function analyse(
  h: PipelineHarness,
  ticker: string,
  options: { faults?: FaultRule[]; imported?: boolean; charts?: boolean } = {},
): Promise<AnalysisRow> {
  h.emulator.setFaults(options.faults ?? []);
  try {
    const id = await h.queue(ticker);
    const deps = {
      ...h.deps,
      ...(options.imported ? { prices: createPriceProvider({ sql: h.db.sql, logger }) } : {}),
      ...(options.charts === undefined ? {} : { charts: options.charts }),
    };
    const row = await executeAnalysis(id, deps);
    if (!row) throw new Error(`analysis ${id} did not run`);
    return row;
  } finally {
    h.emulator.setFaults([]);
  }
}

export async function report(h: PipelineHarness, id: string, charts = true): Promise<AnalysisReport> {
  const built = await buildReport(h.db.sql, id, { charts, samples });
  if (!built) throw new Error(`no report for ${id}`);
  return built;
}

/** Bars of a shipped sample, to import under another ticker. */
export async function sampleBars(ticker: string): Promise<PriceBar[]> {
  const series = await samples.load(ticker);
  if (!series) throw new Error(`no sample ${ticker}`);
  return series.bars;
}

export const importBars = (h: PipelineHarness, ticker: string, bars: PriceBar[]) =>
  importPriceBars(h.db.sql, new Map([[ticker, bars]]), { currency: "INR" });

/** The eight-byte signature every PNG file starts with. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
