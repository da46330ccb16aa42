import { getAnalysis, listAnalyses } from "../../store/analyses-repo.js";
import { listCalls } from "../../store/calls-repo.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure } from "../cli-errors.js";
import { parseAnalysisId, parseLimit, parseSince, parseStatus, parseTicker } from "../input.js";
import { analysisJson, callJson, printJson, renderSummary } from "../render.js";

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

export async function showCommand(
  ctx: CliContext,
  rawId: string,
  options: { json?: boolean },
): Promise<void> {
  const row = await requireAnalysis(ctx, rawId);
  const calls = await listCalls(ctx.sql, row.id);
  if (options.json) {
    printJson({ ...analysisJson(row), calls: calls.map(callJson) });
    return;
  }
  const lines = [renderSummary(row), "", "Calls:"];
  for (const c of calls) {
    const error = c.error_type ? `  ${c.error_type}: ${c.error_message ?? ""}` : "";
    lines.push(
      `  ${c.started_at.toISOString()}  ${c.call_type.padEnd(22)} #${c.attempt}  ${c.status.padEnd(11)} ` +
        `in ${c.input_tokens} out ${c.output_tokens} (think ${c.thinking_tokens}, cached ${c.cached_input_tokens}) ` +
        `${c.duration_ms ?? "?"} ms  ${c.usage_source}${error}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

export interface ListOptions {
  ticker?: string;
  status?: string;
  since?: string;
  limit?: string;
  json?: boolean;
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
  const header = `${"ID".padEnd(30)} ${"TICKER".padEnd(12)} ${"STATUS".padEnd(16)} ${"CALLS".padStart(5)} ${"TOKENS".padStart(9)} ${"COST USD".padStart(11)}  CREATED`;
  const lines = rows.map(
    (r) =>
      `${r.id.padEnd(30)} ${r.ticker.padEnd(12)} ${r.status.padEnd(16)} ${String(r.llm_calls_count).padStart(5)} ` +
      `${String(r.total_tokens).padStart(9)} ${(r.cost_usd === null ? "-" : Number(r.cost_usd).toFixed(6)).padStart(11)}  ${r.created_at.toISOString()}`,
  );
  process.stdout.write(`${[header, ...lines].join("\n")}\n`);
}
