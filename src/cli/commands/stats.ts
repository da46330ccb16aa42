import {
  loadStats,
  mostExpensive,
  parseStatsOptions,
  type StatsGroup,
  type StatsReport,
} from "../../store/stats-repo.js";
import type { CliContext } from "../cli-context.js";
import { printJson } from "../render.js";
import { type Column, count, percent, renderTable, usd } from "../table.js";

export interface StatsOptions {
  range?: string;
  since?: string;
  until?: string;
  by?: string;
  json?: boolean;
  wide?: boolean;
}

const orDash = (value: string | null) => value ?? "-";
const figure = (title: string, cell: (g: StatsGroup) => string, wide = false): Column<StatsGroup> => ({
  title,
  cell,
  align: "right",
  wide,
});
/** The report's `to` is the exclusive end; people read the last day included. */
const lastDay = (to: string) => new Date(Date.parse(to) - 86_400_000).toISOString().slice(0, 10);

/**
 * What a group cost and how its calls went fits 100 columns; the token split, the median,
 * the unit cost and the savings are `--wide` detail.
 */
const FIGURES: Column<StatsGroup>[] = [
  figure("ANALYSES", (g) => count(g.analyses)),
  figure("CALLS", (g) => count(g.calls)),
  figure("FAILED", (g) => count(g.failed_calls)),
  figure("SUCCESS", (g) => percent(g.success_rate)),
  figure("INPUT", (g) => count(g.input_tokens), true),
  figure("OUTPUT", (g) => count(g.output_tokens), true),
  figure("THINKING", (g) => count(g.thinking_tokens), true),
  figure("CACHED", (g) => count(g.cached_input_tokens), true),
  figure("TOKENS", (g) => count(g.total_tokens)),
  figure("COST USD", (g) => usd(g.cost_usd)),
  figure(
    "USD/1K TOK",
    (g) => orDash(g.cost_per_1k_tokens === null ? null : g.cost_per_1k_tokens.toFixed(6)),
    true,
  ),
  figure("P50 MS", (g) => orDash(g.p50_ms === null ? null : count(g.p50_ms)), true),
  figure("P95 MS", (g) => orDash(g.p95_ms === null ? null : count(g.p95_ms))),
  figure("SAVED TOK", (g) => count(g.tokens_saved), true),
  figure("REUSE SAVED", (g) => usd(g.reuse_cost_saved_usd), true),
  figure("CACHE SAVED", (g) => usd(g.cache_cost_saved_usd), true),
  figure("BATCH SAVED", (g) => usd(g.batch_saved_usd), true),
];

/** One row per group and a TOTAL row: the key left-aligned, every figure right-aligned. */
export function renderStatsTable(report: StatsReport, options: { wide?: boolean | undefined } = {}): string {
  const key: Column<StatsGroup> = { title: report.by.toUpperCase(), cell: (g) => g.key, shorten: "end" };
  return renderTable([key, ...FIGURES], report.groups, {
    wide: options.wide,
    footer: [{ ...report.totals, key: "TOTAL" }],
  });
}

export async function statsCommand(ctx: CliContext, options: StatsOptions): Promise<void> {
  const query = parseStatsOptions(options);
  if (options.json) {
    printJson(await loadStats(ctx.sql, query));
    return;
  }
  const [report, model, ticker] = await Promise.all([
    loadStats(ctx.sql, query),
    mostExpensive(ctx.sql, query.window, "model"),
    mostExpensive(ctx.sql, query.window, "ticker"),
  ]);
  const lines = [
    `Stats by ${report.by}, ${report.from.slice(0, 10)} to ${lastDay(report.to)} (UTC days)`,
    "",
    renderStatsTable(report, { wide: options.wide }),
    "",
    `Most expensive model:  ${model ? `${model.key} (${usd(model.cost_usd)})` : "-"}`,
    `Most expensive ticker: ${ticker ? `${ticker.key} (${usd(ticker.cost_usd)})` : "-"}`,
  ];
  if (report.totals.unpriced_calls > 0) {
    lines.push(
      `Note: ${count(report.totals.unpriced_calls)} call${report.totals.unpriced_calls === 1 ? "" : "s"} used a model with no known price; their cost is not included.`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
