import type { PriceBook } from "../../ledger/price-table.js";
import { assertPricedModel } from "../../ledger/pricing.js";
import { batchOptionsRefusal, type EnqueueRequest, enqueueAnalyses } from "../../queue/enqueue.js";
import { assertQueueReachable } from "../../queue/queue-check.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure, UsageError } from "../cli-errors.js";
import { parseAnalysisId, parseModel, parsePositiveInt, parseTicker, parseUsd } from "../input.js";
import { createWaitView } from "../progress-view.js";
import { printJson, renderSummary } from "../render.js";
import { type WaitOutcome, waitForAnalyses } from "../wait-for-analyses.js";

export interface AnalyzeOptions {
  wait?: boolean;
  estimate?: boolean;
  reuse?: boolean;
  contextCache?: boolean;
  batch?: boolean;
  batchFallback?: string;
  maxTokens?: string;
  maxCost?: string;
  allowPartial?: boolean;
  allowUnpriced?: boolean;
  model?: string;
  id?: string;
  json?: boolean;
}

/**
 * Validates everything first, so a bad ticker, id or unpriced model writes no row and queues
 * no job. `priceBook` is the shipped book with PRICE_BOOK_FILE's versions (a file may price
 * a model the shipped book lacks).
 */
function parseRequest(
  rawTickers: string[],
  options: AnalyzeOptions,
  defaultModel: () => string,
  reuseByDefault: () => boolean,
  priceBook: () => PriceBook,
): EnqueueRequest {
  if (rawTickers.length === 0) throw new UsageError("analyze needs at least one TICKER");
  const tickers = rawTickers.map(parseTicker);
  const id = options.id === undefined ? undefined : parseAnalysisId(options.id);
  if (id !== undefined && tickers.length !== 1) throw new UsageError("--id takes exactly one ticker");
  if (new Set(tickers).size !== tickers.length) throw new UsageError("a ticker is listed twice");
  const model = options.model === undefined ? defaultModel() : parseModel(options.model);
  const maxTokens =
    options.maxTokens === undefined ? undefined : parsePositiveInt(options.maxTokens, "--max-tokens");
  const maxCostUsd = options.maxCost === undefined ? undefined : parseUsd(options.maxCost, "--max-cost");
  assertPricedModel(model, { allowUnpriced: options.allowUnpriced ?? false, book: priceBook() });
  const batchFallback = parseBatchFallback(options);
  return {
    tickers,
    id,
    model,
    maxTokens,
    maxCostUsd,
    reuse: options.reuse ?? reuseByDefault(),
    contextCache: options.contextCache ?? false,
    allowPartial: options.allowPartial ?? false,
    batch: options.batch ?? false,
    batchFallback,
  };
}

function parseBatchFallback(options: AnalyzeOptions): "none" | "sync" {
  const refusal = batchOptionsRefusal(
    { batch: options.batch, batchFallback: options.batchFallback, contextCache: options.contextCache },
    { batch: "--batch", batchFallback: "--batch-fallback", contextCache: "--context-cache" },
  );
  if (refusal) throw new UsageError(refusal);
  return options.batchFallback === "sync" ? "sync" : "none";
}

export function reportOutcomes(outcomes: WaitOutcome[], json: boolean): boolean {
  if (json) {
    printJson({
      analyses: outcomes.map((o) => ({
        id: o.id,
        ticker: o.row?.ticker ?? null,
        status: o.row?.status ?? "unknown",
        ...(o.jobFailure ? { error: o.jobFailure } : {}),
      })),
    });
  } else {
    const texts = outcomes.map((o) =>
      o.row && !o.jobFailure ? renderSummary(o.row) : `analysis ${o.id} did not finish: ${o.jobFailure}`,
    );
    process.stdout.write(`${texts.join("\n\n")}\n`);
  }
  return outcomes.every((o) => o.row?.status === "completed" && !o.jobFailure);
}

/** Exit 2 before anything is written when an analysis' estimate is above its cap (see --allow-partial). */
async function refuseWhatCannotFit(ctx: CliContext, request: ReturnType<typeof parseRequest>): Promise<void> {
  const { estimateTickers } = await import("./estimate.js");
  const { estimateExceedsCaps } = await import("../../analysis/estimate.js");
  for (const estimate of await estimateTickers(ctx, request)) {
    const refusal = estimateExceedsCaps(estimate, request, {
      maxTokens: "--max-tokens",
      maxCost: "--max-cost",
      allowPartial: "--allow-partial",
    });
    if (refusal) throw new UsageError(refusal);
  }
}

export async function analyzeCommand(ctx: CliContext, rawTickers: string[], options: AnalyzeOptions) {
  const request = parseRequest(
    rawTickers,
    options,
    () => ctx.config.gemini.model,
    () => ctx.config.reuse.byDefault,
    () => ctx.priceBook,
  );
  if (options.estimate) {
    // Loaded only here: it brings the market data and LLM modules the enqueue path never needs.
    const { estimateCommand } = await import("./estimate.js");
    return estimateCommand(ctx, request, options.json ?? false);
  }
  if ((request.maxTokens !== undefined || request.maxCostUsd !== undefined) && !request.allowPartial) {
    await refuseWhatCannotFit(ctx, request);
  }
  const queue = ctx.queue();
  // Before any row is written: an unreachable Redis fails here, in seconds, with one line.
  await assertQueueReachable(queue, ctx.queueBackend);
  // Subscribe before enqueueing so no progress event is missed.
  const queueEvents = options.wait ? await ctx.queueEvents() : null;
  const analyses = await enqueueAnalyses({ sql: ctx.sql, queue, budget: ctx.config.budget }, request);
  if (!options.wait || !queueEvents) {
    if (options.json) printJson({ analyses: analyses.map(({ id, ticker }) => ({ id, ticker })) });
    else {
      for (const a of analyses) {
        const what = a.created ? "queued" : `already exists (status ${a.status})`;
        process.stdout.write(`${a.ticker} ${a.id} ${what}\n`);
      }
    }
    return;
  }
  // Progress on stderr, with --json too: stdout carries only the summaries or the JSON.
  const view = createWaitView({
    sql: ctx.sql,
    analyses,
    out: process.stderr,
    maxAttempts: ctx.config.gemini.maxAttempts,
  });
  const outcomes = await waitForAnalyses({
    sql: ctx.sql,
    queue,
    queueEvents,
    ids: analyses.map((a) => a.id),
    // Each look reads the analyses' rows and calls by key: twice a second keeps the view live.
    pollMs: 500,
    ...view,
  });
  if (!reportOutcomes(outcomes, options.json ?? false)) {
    throw new CliFailure("not every analysis completed");
  }
}
