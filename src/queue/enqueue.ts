import { randomBytes } from "node:crypto";
import { assertDailyBudgetLeft, DailyBudgetExhaustedError } from "../analysis/daily-budget.js";
import { type DailyBudget, UsageError } from "../config/config.js";
import { TokenTracker } from "../ledger/token-tracker.js";
import { finalizeAnalysis, insertQueuedAnalysis, TERMINAL_STATUSES } from "../store/analyses-repo.js";
import type { Sql } from "../store/database.js";
import { type AnalysisQueue, addAnalysisJob } from "./analysis-queue.js";

export interface EnqueueRequest {
  /** Already validated and upper-cased. */
  tickers: string[];
  model: string;
  /** Client-chosen id: makes enqueueing idempotent. Only with a single ticker. */
  id?: string | undefined;
  /** Per-analysis limits: remaining stages are skipped once reached. */
  maxTokens?: number | undefined;
  /** Decimal USD string. */
  maxCostUsd?: string | undefined;
  /** Reuse stage answers of identical recent inputs instead of paying for them again. */
  reuse?: boolean | undefined;
  /** Put the stages' shared prompt prefix in an explicit context cache. */
  contextCache?: boolean | undefined;
  /**
   * When the whole analysis cannot fit under maxTokens/maxCostUsd, run the stages that fit
   * instead of refusing it up front.
   */
  allowPartial?: boolean | undefined;
  /** Run through Gemini's Batch API at the batch rates (src/analysis/batch/). */
  batch?: boolean | undefined;
  /** Batch requests that fail, expire or are cancelled are asked again synchronously ("sync"), or fail ("none"). */
  batchFallback?: "none" | "sync" | undefined;
}

export interface EnqueuedAnalysis {
  id: string;
  ticker: string;
  /** False when the id already existed: nothing new was queued. */
  created: boolean;
  status: string;
}

/**
 * Why batch options do not go together, named as the caller knows them (CLI flags or API
 * fields), or null. An explicit context cache may lapse before a batch runs, so the two are
 * not combined (implicit caching still applies to batch requests).
 */
export function batchOptionsRefusal(
  options: {
    batch?: boolean | undefined;
    batchFallback?: string | undefined;
    contextCache?: boolean | undefined;
  },
  names: { batch: string; batchFallback: string; contextCache: string },
): string | null {
  if (options.batchFallback !== undefined && !["none", "sync"].includes(options.batchFallback)) {
    return `${names.batchFallback} must be sync or none, not ${JSON.stringify(options.batchFallback.slice(0, 40))}`;
  }
  if (options.batchFallback !== undefined && !options.batch)
    return `${names.batchFallback} needs ${names.batch}`;
  if (options.batch && options.contextCache) {
    return `${names.contextCache} cannot be combined with ${names.batch}: a cache may lapse before the batch runs`;
  }
  return null;
}

/** Time-sortable, URL-safe, never all digits: "an_" + base36 time + random. */
export function newAnalysisId(): string {
  return `an_${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
}

/**
 * Records each analysis as `queued` in Postgres, then adds its job (job id = analysis id).
 * The row comes first so a job never runs without its ledger row; re-enqueueing an id that
 * has not ended re-adds the job (BullMQ ignores a live duplicate), an ended one is left alone.
 */
export async function enqueueAnalyses(
  deps: { sql: Sql; queue: AnalysisQueue; budget?: DailyBudget | undefined },
  request: EnqueueRequest,
): Promise<EnqueuedAnalysis[]> {
  if (request.id !== undefined && request.tickers.length !== 1) {
    throw new UsageError("--id takes exactly one ticker");
  }
  // Checked before anything is written: a refused request leaves no row and no job.
  const delayMs = deps.budget ? await budgetDelay(deps.sql, deps.budget) : 0;
  const enqueued: EnqueuedAnalysis[] = [];
  for (const ticker of request.tickers) {
    const id = request.id ?? newAnalysisId();
    const { created, row } = await insertQueuedAnalysis(deps.sql, {
      id,
      ticker,
      model: request.model,
      maxTokens: request.maxTokens ?? null,
      maxCostUsd: request.maxCostUsd ?? null,
      reuse: request.reuse ?? false,
      contextCache: request.contextCache ?? false,
      batch: request.batch ?? false,
      batchFallback: request.batchFallback ?? "none",
    });
    if (!created && row.ticker !== ticker) {
      throw new UsageError(`analysis id ${id} already exists for ticker ${row.ticker}`);
    }
    if (!TERMINAL_STATUSES.has(row.status)) {
      try {
        await addAnalysisJob(deps.queue, { analysisId: id, ticker, model: row.model }, { delayMs });
      } catch (error) {
        // Without its job the row would sit `queued` until a worker's recovery ran it: an
        // analysis the user saw fail would be billed later. It ends `failed` here instead.
        if (created) await markNotEnqueued(deps.sql, { id, ticker, model: row.model }, error);
        throw error;
      }
    }
    enqueued.push({ id, ticker, created, status: row.status });
  }
  return enqueued;
}

/** Ends a fresh analysis whose job could not be added: `failed`, "not enqueued: …", nothing spent. */
async function markNotEnqueued(
  sql: Sql,
  analysis: { id: string; ticker: string; model: string },
  cause: unknown,
): Promise<void> {
  const nothing = new TokenTracker(analysis.id, analysis.ticker, analysis.model);
  await finalizeAnalysis(sql, {
    id: analysis.id,
    leaseOwner: null,
    status: "failed",
    totals: nothing.totals(),
    breakdown: nothing.breakdown(),
    decision: null,
    error: `not enqueued: ${cause instanceof Error ? cause.message : String(cause)}`,
    marketDataSource: null,
  });
}

/** 0 while today's budget lasts; once spent, refuses or (by config) holds new jobs until it resets. */
async function budgetDelay(sql: Sql, budget: DailyBudget): Promise<number> {
  try {
    await assertDailyBudgetLeft(sql, budget);
    return 0;
  } catch (error) {
    if (!(error instanceof DailyBudgetExhaustedError) || budget.whenExceeded === "refuse") throw error;
    return Math.max(0, error.resetsAt.getTime() - Date.now());
  }
}
