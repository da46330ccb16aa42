import type { SummaryInput } from "../ledger/summary.js";
import { formatSummary } from "../ledger/summary.js";
import type { AnalysisRow } from "../store/analyses-repo.js";
import type { LlmCallRow } from "../store/calls-repo.js";

/** NUMERIC money arrives as exact strings; JSON readers expect numbers. */
const money = (value: string | null) => (value === null ? null : Number(value));

export function analysisJson(row: AnalysisRow): Record<string, unknown> {
  return {
    ...row,
    cost_usd: money(row.cost_usd),
    cost_saved_usd: money(row.cost_saved_usd),
    batch_saved_usd: money(row.batch_saved_usd),
  };
}

export function callJson(row: LlmCallRow): Record<string, unknown> {
  return { ...row, cost_usd: money(row.cost_usd), batch_saved_usd: money(row.batch_saved_usd) };
}

export function summaryInput(row: AnalysisRow): SummaryInput {
  return {
    id: row.id,
    ticker: row.ticker,
    status: row.status,
    model: row.model,
    durationMs: row.duration_ms,
    llmCallsCount: row.llm_calls_count,
    failedCallsCount: row.failed_calls_count,
    totalInputTokens: row.total_input_tokens,
    totalOutputTokens: row.total_output_tokens,
    thinkingTokens: row.thinking_tokens,
    cachedInputTokens: row.cached_input_tokens,
    totalTokens: row.total_tokens,
    costUsd: row.cost_usd,
    breakdown: row.token_usage_breakdown,
    decision: row.decision as SummaryInput["decision"],
    error: row.error,
    dataSource: row.market_data_source,
    tokensSaved: row.tokens_saved,
    costSavedUsd: row.cost_saved_usd,
    batch: row.batch,
    batchSavedUsd: row.batch_saved_usd,
  };
}

export const renderSummary = (row: AnalysisRow): string => formatSummary(summaryInput(row));

export const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
