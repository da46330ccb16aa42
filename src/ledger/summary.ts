import { CALL_TYPES } from "./call-record.js";
import { formatUsd, usdToPico } from "./money.js";
import type { BreakdownEntry } from "./token-tracker.js";

/** What the summary needs of a stored analysis (a `stock_analyses` row, camel-cased). */
export interface SummaryInput {
  id: string;
  ticker: string;
  status: string;
  model: string;
  durationMs: number | null;
  llmCallsCount: number;
  failedCallsCount: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  thinkingTokens: number;
  cachedInputTokens: number;
  totalTokens: number;
  /** Exact decimal string from NUMERIC, or null when a call could not be priced. */
  costUsd: string | null;
  breakdown: Record<string, BreakdownEntry>;
  decision?: { action: string; confidence: number; entry: number; target: number; stop_loss: number } | null;
  error?: string | null;
  dataSource?: string | null;
  tokensSaved?: number;
  costSavedUsd?: string | null;
  /** Run in batch mode (its stages sent through the Batch API). */
  batch?: boolean;
  /** What its batch calls saved against the standard rates, exact decimal. */
  batchSavedUsd?: string | null;
}

const RULE = "=".repeat(50);
const UNFINISHED = new Set(["queued", "running"]);
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const seconds = (ms: number | null) => (ms === null ? "n/a" : `${(ms / 1000).toFixed(2)} seconds`);
const cost = (usd: string | number | null) =>
  usd === null ? "unknown (model has no known price)" : formatUsd(usdToPico(String(usd)));
const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();

/** Call types in pipeline order, then any others alphabetically. */
function orderedCallTypes(breakdown: Record<string, BreakdownEntry>): string[] {
  const known: string[] = CALL_TYPES.filter((t) => t in breakdown);
  const others = Object.keys(breakdown)
    .filter((t) => !known.includes(t))
    .sort();
  return [...known, ...others];
}

/** "input TEXT 1,320, IMAGE 1,032; output TEXT 210", shown when a call carried more than text. */
function modalityLine(tokens: BreakdownEntry["modality_tokens"] | undefined): string | null {
  if (!tokens) return null;
  const kinds = new Set([...Object.keys(tokens.input), ...Object.keys(tokens.output)]);
  if (kinds.size === 0 || (kinds.size === 1 && kinds.has("TEXT"))) return null;
  const side = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([kind, n]) => `${kind} ${int(n)}`)
      .join(", ");
  return `input ${side(tokens.input) || "none"}; output ${side(tokens.output) || "none"}`;
}

function sumModality(entries: BreakdownEntry[]): BreakdownEntry["modality_tokens"] {
  const total: BreakdownEntry["modality_tokens"] = { input: {}, output: {} };
  for (const entry of entries) {
    for (const side of ["input", "output"] as const) {
      for (const [kind, n] of Object.entries(entry.modality_tokens?.[side] ?? {})) {
        total[side][kind] = (total[side][kind] ?? 0) + n;
      }
    }
  }
  return total;
}

/** "batch (saved $0.000617)", or "batch 1, standard 1 (…)" after a synchronous fallback; null when none was batched. */
function serviceTierLine(entry: BreakdownEntry): string | null {
  const batched = entry.batch_calls ?? 0;
  if (batched === 0) return null;
  const tiers =
    batched === entry.calls ? "batch" : `batch ${int(batched)}, standard ${int(entry.calls - batched)}`;
  return `${tiers} (saved ${cost((entry.batch_saved_usd ?? 0).toFixed(12))})`;
}

function breakdownLines(callType: string, entry: BreakdownEntry): string[] {
  const lines = [
    `  ${callType}:`,
    `    Calls: ${int(entry.calls)}`,
    `    Input Tokens: ${int(entry.input_tokens)}`,
    `    Output Tokens: ${int(entry.output_tokens)}`,
    `    Thinking Tokens: ${int(entry.thinking_tokens)}`,
    `    Cached Input Tokens: ${int(entry.cached_input_tokens)}`,
    `    Total Tokens: ${int(entry.total_tokens)}`,
    `    Duration: ${seconds(entry.duration_ms)}`,
    `    Cost: ${cost(entry.cost_usd === null ? null : entry.cost_usd.toFixed(12))}`,
    `    Success Rate: ${entry.successful_calls}/${entry.calls}`,
  ];
  const modality = modalityLine(entry.modality_tokens);
  if (modality) lines.push(`    Modality Tokens: ${modality}`);
  const tier = serviceTierLine(entry);
  if (tier) lines.push(`    Service Tier: ${tier}`);
  if (entry.reused_from) {
    const saved = entry.cost_saved_usd == null ? "cost unknown" : cost(entry.cost_saved_usd.toFixed(12));
    lines.push(
      `    Reused From: ${entry.reused_from} (saved ${int(entry.tokens_saved ?? 0)} tokens, ${saved})`,
    );
  }
  for (const error of entry.errors) {
    lines.push(`    Errors: ${error.type} (attempt ${error.attempt}): ${oneLine(error.message)}`);
  }
  return lines;
}

/** The human-readable token summary of DESIGN §5 (the seed's format, extended). */
export function formatSummary(input: SummaryInput): string {
  const lines = [
    `📊 Token Usage Summary for ${input.ticker}`,
    RULE,
    `Analysis ID: ${input.id}`,
    `Status: ${input.status}`,
    `Model: ${input.model}`,
  ];
  if (input.dataSource) lines.push(`Market Data: ${input.dataSource}`);
  lines.push(
    `Duration: ${seconds(input.durationMs)}`,
    `Total LLM Calls: ${int(input.llmCallsCount)}`,
    `Successful Calls: ${int(input.llmCallsCount - input.failedCallsCount)}`,
    `Failed Calls: ${int(input.failedCallsCount)}`,
    "",
    "Token Usage:",
    `  Input Tokens: ${int(input.totalInputTokens)}`,
    `  Output Tokens: ${int(input.totalOutputTokens)}`,
    `  Thinking Tokens: ${int(input.thinkingTokens)}`,
    `  Cached Input Tokens: ${int(input.cachedInputTokens)}`,
    `  Total Tokens: ${int(input.totalTokens)}`,
    `  Cost: ${input.costUsd === null && UNFINISHED.has(input.status) ? "n/a (analysis not finished)" : cost(input.costUsd)}`,
  );
  const overallModality = modalityLine(sumModality(Object.values(input.breakdown)));
  if (overallModality) lines.push(`  Modality Tokens: ${overallModality}`);
  if (input.tokensSaved) {
    lines.push(
      `  Tokens Saved by Reuse: ${int(input.tokensSaved)}`,
      `  Cost Saved by Reuse: ${cost(input.costSavedUsd ?? null)}`,
    );
  }
  const batchSaved = input.batchSavedUsd ?? "0";
  if (input.batch || usdToPico(batchSaved) !== 0n) {
    const shown = UNFINISHED.has(input.status) ? "n/a (analysis not finished)" : cost(batchSaved);
    lines.push(`  Cost Saved by Batch Mode: ${shown}`);
  }
  lines.push("", "Breakdown by Call Type:");
  const types = orderedCallTypes(input.breakdown);
  if (types.length === 0) lines.push("  (no LLM calls)");
  for (const callType of types) {
    const entry = input.breakdown[callType];
    if (entry) lines.push(...breakdownLines(callType, entry));
  }
  if (input.decision) {
    const d = input.decision;
    lines.push(
      "",
      `Decision: ${d.action} (confidence ${d.confidence.toFixed(2)}) entry ${d.entry} target ${d.target} stop loss ${d.stop_loss}`,
    );
  }
  if (input.error) lines.push("", `Error: ${oneLine(input.error)}`);
  return lines.join("\n");
}
