import {
  loadStats,
  mostExpensive,
  parseStatsOptions,
  type StatsGroup,
  type StatsReport,
} from "../../store/stats-repo.js";
import type { CliContext } from "../cli-context.js";
import { printJson } from "../render.js";

export interface StatsOptions {
  range?: string;
  since?: string;
  until?: string;
  by?: string;
  json?: boolean;
}

const count = (n: number) => n.toLocaleString("en-US");
const usd = (n: number | null) => (n === null ? "-" : `$${n.toFixed(6)}`);
const orDash = (value: string | null) => value ?? "-";
/** The report's `to` is the exclusive end; people read the last day included. */
const lastDay = (to: string) => new Date(Date.parse(to) - 86_400_000).toISOString().slice(0, 10);

const COLUMNS: { title: string; cell: (g: StatsGroup) => string }[] = [
  { title: "ANALYSES", cell: (g) => count(g.analyses) },
  { title: "CALLS", cell: (g) => count(g.calls) },
  { title: "FAILED", cell: (g) => count(g.failed_calls) },
  {
    title: "SUCCESS",
    cell: (g) => orDash(g.success_rate === null ? null : `${(g.success_rate * 100).toFixed(1)}%`),
  },
  { title: "INPUT", cell: (g) => count(g.input_tokens) },
  { title: "OUTPUT", cell: (g) => count(g.output_tokens) },
  { title: "THINKING", cell: (g) => count(g.thinking_tokens) },
  { title: "CACHED", cell: (g) => count(g.cached_input_tokens) },
  { title: "TOTAL", cell: (g) => count(g.total_tokens) },
  { title: "COST USD", cell: (g) => usd(g.cost_usd) },
  {
    title: "USD/1K TOK",
    cell: (g) => orDash(g.cost_per_1k_tokens === null ? null : g.cost_per_1k_tokens.toFixed(6)),
  },
  { title: "P50 MS", cell: (g) => orDash(g.p50_ms === null ? null : count(g.p50_ms)) },
  { title: "P95 MS", cell: (g) => orDash(g.p95_ms === null ? null : count(g.p95_ms)) },
  { title: "SAVED TOK", cell: (g) => count(g.tokens_saved) },
  { title: "REUSE SAVED", cell: (g) => usd(g.reuse_cost_saved_usd) },
  { title: "CACHE SAVED", cell: (g) => usd(g.cache_cost_saved_usd) },
];

/** An aligned table: the group key left-aligned, every figure right-aligned. */
export function renderStatsTable(report: StatsReport): string {
  const rows = [
    [report.by.toUpperCase(), ...COLUMNS.map((c) => c.title)],
    ...report.groups.map((g) => [g.key, ...COLUMNS.map((c) => c.cell(g))]),
    ["TOTAL", ...COLUMNS.map((c) => c.cell(report.totals))],
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const rule = "-".repeat(widths.reduce((sum, w) => sum + w, 0) + 2 * (widths.length - 1));
  const body = rows.slice(1, -1).map(line);
  return [
    line(rows[0] ?? []),
    rule,
    ...body,
    ...(body.length > 0 ? [rule] : []),
    line(rows.at(-1) ?? []),
  ].join("\n");
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
    renderStatsTable(report),
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
