import { randomBytes } from "node:crypto";
import { UsageError } from "../config/config.js";
import { deleteQueuedAnalysis, insertQueuedAnalysis, TERMINAL_STATUSES } from "../store/analyses-repo.js";
import type { Sql } from "../store/database.js";
import { type AnalysisQueue, addAnalysisJob } from "./analysis-queue.js";

export interface EnqueueRequest {
  /** Already validated and upper-cased. */
  tickers: string[];
  model: string;
  /** Client-chosen id: makes enqueueing idempotent. Only with a single ticker. */
  id?: string | undefined;
}

export interface EnqueuedAnalysis {
  id: string;
  ticker: string;
  /** False when the id already existed: nothing new was queued. */
  created: boolean;
  status: string;
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
  deps: { sql: Sql; queue: AnalysisQueue },
  request: EnqueueRequest,
): Promise<EnqueuedAnalysis[]> {
  if (request.id !== undefined && request.tickers.length !== 1) {
    throw new UsageError("--id takes exactly one ticker");
  }
  const enqueued: EnqueuedAnalysis[] = [];
  for (const ticker of request.tickers) {
    const id = request.id ?? newAnalysisId();
    const { created, row } = await insertQueuedAnalysis(deps.sql, { id, ticker, model: request.model });
    if (!created && row.ticker !== ticker) {
      throw new UsageError(`analysis id ${id} already exists for ticker ${row.ticker}`);
    }
    if (!TERMINAL_STATUSES.has(row.status)) {
      try {
        await addAnalysisJob(deps.queue, { analysisId: id, ticker, model: row.model });
      } catch (error) {
        // Without its job the new row would sit `queued` forever: take it back.
        if (created) await deleteQueuedAnalysis(deps.sql, id);
        throw error;
      }
    }
    enqueued.push({ id, ticker, created, status: row.status });
  }
  return enqueued;
}
