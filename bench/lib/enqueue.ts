/**
 * Fast enqueueing for benches. `enqueueAnalyses` (src/queue/enqueue.ts) does one INSERT and one
 * `queue.add` per analysis, round trip after round trip; here the same rows (id, ticker, model,
 * status 'queued') go in with one INSERT per 1,000, and the same jobs (name, payload, job id =
 * analysis id, ANALYSIS_JOB_OPTIONS) with one `addBulk` per 1,000.
 */
import { Queue } from "bullmq";
import { ANALYSIS_JOB_OPTIONS, type AnalysisQueue } from "../../src/queue/analysis-queue.js";
import { newAnalysisId } from "../../src/queue/enqueue.js";
import type { RedisConnection } from "../../src/queue/redis.js";
import type { Sql } from "../../src/store/database.js";

export const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL", "MSFT"] as const;
export const MODEL = "gemini-2.5-flash";
export const BASELINE_QUEUE = "baseline-analyses";
const CHUNK = 1000;

const tickerAt = (i: number): string => TICKERS[i % TICKERS.length] as string;

/** Enqueues `count` analyses as the product does; returns their ids. */
export async function enqueueProductAnalyses(
  deps: { sql: Sql; queue: AnalysisQueue },
  count: number,
  offset = 0,
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += CHUNK) {
    const size = Math.min(CHUNK, count - start);
    const chunkIds = Array.from({ length: size }, () => newAnalysisId());
    const tickers = chunkIds.map((_, i) => tickerAt(offset + start + i));
    // Rows first, as enqueueAnalyses does: a job never runs without its ledger row.
    await insertQueuedRows(deps.sql, chunkIds, tickers);
    await deps.queue.addBulk(
      chunkIds.map((analysisId, i) => ({
        name: "analysis",
        data: { analysisId, ticker: tickers[i] as string, model: MODEL },
        opts: { ...ANALYSIS_JOB_OPTIONS, jobId: analysisId },
      })),
    );
    ids.push(...chunkIds);
  }
  return ids;
}

async function insertQueuedRows(sql: Sql, ids: string[], tickers: string[]): Promise<void> {
  await sql`
    INSERT INTO stock_analyses (id, ticker, model, status)
    SELECT id, ticker, ${MODEL}, 'queued' FROM unnest(${ids}::text[], ${tickers}::text[]) AS t (id, ticker)`;
}

export interface BaselineJobData {
  ticker: string;
  model: string;
}

export function createBaselineQueue(connection: RedisConnection, prefix: string): Queue<BaselineJobData> {
  return new Queue<BaselineJobData>(BASELINE_QUEUE, { connection, prefix });
}

/**
 * The baseline's jobs: same payload size and retention options. No Postgres row, unless `sql`
 * is given (the reference ledgers of lib/reference-ledger.ts update their analyses' rows).
 */
export async function enqueueBaselineJobs(
  queue: Queue<BaselineJobData>,
  count: number,
  sql?: Sql,
): Promise<void> {
  for (let start = 0; start < count; start += CHUNK) {
    const size = Math.min(CHUNK, count - start);
    const ids = Array.from({ length: size }, () => newAnalysisId());
    const tickers = ids.map((_, i) => tickerAt(start + i));
    if (sql) await insertQueuedRows(sql, ids, tickers);
    await queue.addBulk(
      ids.map((jobId, i) => ({
        name: "analysis",
        data: { ticker: tickers[i] as string, model: MODEL },
        opts: { ...ANALYSIS_JOB_OPTIONS, jobId },
      })),
    );
  }
}
