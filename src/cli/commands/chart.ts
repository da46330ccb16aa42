import { stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { CHART_KINDS, type ChartKind } from "../../market/chart/chart-kinds.js";
import { renderChartPng } from "../../market/chart/render.js";
import { createPriceProvider } from "../../market/create-provider.js";
import { computeIndicators } from "../../market/indicators.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure, UsageError } from "../cli-errors.js";
import { parseTicker } from "../input.js";

export interface ChartOptions {
  out: string;
  kind?: string;
}

/**
 * `chart TICKER --out FILE.png [--kind overview|volume|reversal|levels]`: the picture a stage
 * is shown, from the same price source and indicators an analysis would use.
 */
export async function chartCommand(ctx: CliContext, rawTicker: string, options: ChartOptions): Promise<void> {
  const ticker = parseTicker(rawTicker);
  const kind = parseKind(options.kind ?? "overview");
  await checkOutput(options.out);

  const prices = createPriceProvider({ sql: ctx.sql, logger: ctx.logger, market: ctx.config.market });
  const series = await prices.load(ticker);
  if (series === null || series.bars.length === 0) {
    throw new CliFailure(
      `no market data for ${ticker}: import a CSV with \`stock-ledger import-prices\` or use a sample ticker`,
    );
  }
  const image = await renderChartPng(series, computeIndicators(series.bars), kind);
  await writeFile(options.out, image.png);
  process.stdout.write(
    `wrote ${options.out}: ${ticker} ${kind} chart, ${image.width}x${image.height} PNG, ` +
      `${Math.ceil(image.png.length / 1024)} KB (source: ${series.source.label})\n`,
  );
}

function parseKind(raw: string): ChartKind {
  if ((CHART_KINDS as readonly string[]).includes(raw)) return raw as ChartKind;
  throw new UsageError(`invalid chart kind ${JSON.stringify(raw)}: must be one of ${CHART_KINDS.join(", ")}`);
}

/** Refuses a path whose folder is missing before any work is done. */
async function checkOutput(file: string): Promise<void> {
  const folder = path.dirname(path.resolve(file));
  const info = await stat(folder).catch(() => null);
  if (info === null || !info.isDirectory())
    throw new UsageError(`cannot write ${file}: no such directory ${folder}`);
  const existing = await stat(file).catch(() => null);
  if (existing?.isDirectory()) throw new UsageError(`cannot write ${file}: it is a directory`);
}
