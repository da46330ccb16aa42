import { type AnalysisRow, getAnalysis, listAnalyses } from "../../store/analyses-repo.js";
import { type LlmCallRow, listCalls } from "../../store/calls-repo.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure } from "../cli-errors.js";
import { parseAnalysisId, parseLimit, parseSince, parseStatus, parseTicker } from "../input.js";
import { analysisJson, callJson, printJson, renderSummary } from "../render.js";
import { type Column, count, renderTable, usd } from "../table.js";

async function requireAnalysis(ctx: CliContext, rawId: string) {
  const id = parseAnalysisId(rawId);
  const row = await getAnalysis(ctx.sql, id);
  if (!row) throw new CliFailure(`analysis ${id} not found`);
  return row;
}

export async function summaryCommand(ctx: CliContext, rawId: string): Promise<void> {
  const row = await requireAnalysis(ctx, rawId);
  process.stdout.write(`${renderSummary(row)}\n`);
}

/** One-line error text: messages may carry newlines from a provider. */
const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();
const figure = <Row>(title: string, cell: (row: Row) => string, wide = false): Column<Row> => ({
  title,
  cell,
  align: "right",
  wide,
});

/**
 * A call's stage, outcome, service tier, tokens and cost fit 100 columns; its start, token split and usage
 * source are --wide detail, as is the error's message beside its type.
 */
function callColumns(wide: boolean): Column<LlmCallRow>[] {
  return [
    { title: "STARTED", cell: (c) => c.started_at.toISOString(), wide: true },
    { title: "STAGE", cell: (c) => c.call_type },
    figure("#", (c) => String(c.attempt)),
    { title: "STATUS", cell: (c) => c.status },
    { title: "TIER", cell: (c) => c.service_tier },
    figure("INPUT", (c) => count(c.input_tokens), true),
    figure("OUTPUT", (c) => count(c.output_tokens), true),
    figure("THINKING", (c) => count(c.thinking_tokens), true),
    figure("CACHED", (c) => count(c.cached_input_tokens), true),
    figure("TOKENS", (c) => count(c.total_tokens)),
    figure("COST USD", (c) => usd(c.cost_usd)),
    figure("MS", (c) => (c.duration_ms === null ? "-" : count(c.duration_ms))),
    { title: "SOURCE", cell: (c) => c.usage_source, wide: true },
    {
      title: "ERROR",
      cell: (c) =>
        wide
          ? [c.error_type, oneLine(c.error_message ?? "")].filter(Boolean).join(": ")
          : (c.error_type ?? ""),
      shorten: "end",
    },
  ];
}

export async function showCommand(
  ctx: CliContext,
  rawId: string,
  options: { json?: boolean; wide?: boolean },
): Promise<void> {
  const row = await requireAnalysis(ctx, rawId);
  const calls = await listCalls(ctx.sql, row.id);
  if (options.json) {
    printJson({ ...analysisJson(row), calls: calls.map(callJson) });
    return;
  }
  const table =
    calls.length === 0
      ? ["Calls: none"]
      : ["Calls:", renderTable(callColumns(options.wide ?? false), calls, { wide: options.wide, indent: 2 })];
  process.stdout.write(`${[renderSummary(row), "", ...table].join("\n")}\n`);
}

export interface ListOptions {
  ticker?: string;
  status?: string;
  since?: string;
  limit?: string;
  json?: boolean;
  wide?: boolean;
}

/**
 * Which analysis, how it went, what it cost and when, in 100 columns; the model, the token
 * split and the duration are --wide detail, as is the creation time to the millisecond.
 */
function listColumns(wide: boolean): Column<AnalysisRow>[] {
  return [
    { title: "ID", cell: (r) => r.id, shorten: "middle" },
    { title: "TICKER", cell: (r) => r.ticker },
    { title: "STATUS", cell: (r) => r.status },
    { title: "MODEL", cell: (r) => r.model, wide: true },
    figure("CALLS", (r) => count(r.llm_calls_count)),
    figure("FAILED", (r) => count(r.failed_calls_count), true),
    figure("INPUT", (r) => count(r.total_input_tokens), true),
    figure("OUTPUT", (r) => count(r.total_output_tokens), true),
    figure("TOKENS", (r) => count(r.total_tokens)),
    figure("COST USD", (r) => usd(r.cost_usd)),
    figure("SECONDS", (r) => (r.duration_ms === null ? "-" : (r.duration_ms / 1000).toFixed(2)), true),
    {
      title: "CREATED (UTC)",
      cell: (r) =>
        wide ? r.created_at.toISOString() : r.created_at.toISOString().slice(0, 16).replace("T", " "),
    },
  ];
}

export async function listCommand(ctx: CliContext, options: ListOptions): Promise<void> {
  const filter = {
    ticker: options.ticker === undefined ? undefined : parseTicker(options.ticker),
    status: options.status === undefined ? undefined : parseStatus(options.status),
    since: options.since === undefined ? undefined : parseSince(options.since),
    limit: options.limit === undefined ? 20 : parseLimit(options.limit),
  };
  const rows = await listAnalyses(ctx.sql, filter);
  if (options.json) {
    printJson({ analyses: rows.map(analysisJson) });
    return;
  }
  if (rows.length === 0) {
    process.stdout.write("no analyses\n");
    return;
  }
  const wide = options.wide ?? false;
  process.stdout.write(`${renderTable(listColumns(wide), rows, { wide })}\n`);
}
