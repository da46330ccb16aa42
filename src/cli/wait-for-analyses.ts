import { setTimeout as sleep } from "node:timers/promises";
import type { AnalysisQueue } from "../queue/analysis-queue.js";
import type { AnalysisProgress } from "../queue/analysis-worker.js";
import type { AnalysisQueueEvents } from "../queue/queue-backend.js";
import { type AnalysisRow, TERMINAL_STATUSES } from "../store/analyses-repo.js";
import type { Sql } from "../store/database.js";

export interface WaitOutcome {
  id: string;
  row: AnalysisRow | null;
  /** Set when the job itself failed for good (e.g. infrastructure), so the row never ended. */
  jobFailure: string | null;
}

export interface WaitOptions {
  sql: Sql;
  queue: AnalysisQueue;
  queueEvents: AnalysisQueueEvents;
  ids: string[];
  onProgress?: (id: string, progress: AnalysisProgress) => void;
  pollMs?: number;
}

/**
 * Waits until every analysis has ended. Postgres is the source of truth (it also covers
 * analyses that ended before we started watching); queue events only wake the loop early
 * and report per-stage progress.
 */
export async function waitForAnalyses(options: WaitOptions): Promise<WaitOutcome[]> {
  const { sql, queue, queueEvents, ids } = options;
  const pending = new Set(ids);
  const outcomes = new Map<string, WaitOutcome>();
  const maybeFailed = new Set<string>();
  let wake: (() => void) | null = null;
  const nudge = () => wake?.();

  const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
    if (pending.has(jobId)) options.onProgress?.(jobId, data as AnalysisProgress);
  };
  const onCompleted = ({ jobId }: { jobId: string }) => pending.has(jobId) && nudge();
  const onFailed = ({ jobId }: { jobId: string }) => {
    if (!pending.has(jobId)) return;
    maybeFailed.add(jobId);
    nudge();
  };
  queueEvents.on("progress", onProgress);
  queueEvents.on("completed", onCompleted);
  queueEvents.on("failed", onFailed);
  try {
    while (pending.size > 0) {
      const rows = await sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ANY(${[...pending]})`;
      for (const row of rows) {
        if (TERMINAL_STATUSES.has(row.status)) {
          outcomes.set(row.id, { id: row.id, row, jobFailure: null });
          pending.delete(row.id);
        }
      }
      for (const id of [...maybeFailed]) {
        maybeFailed.delete(id);
        if (!pending.has(id)) continue;
        const job = await queue.getJob(id);
        // A failed job with retries left goes back to `delayed`, not `failed`.
        if (job && (await job.getState()) === "failed") {
          outcomes.set(id, { id, row: rows.find((r) => r.id === id) ?? null, jobFailure: job.failedReason });
          pending.delete(id);
        }
      }
      if (pending.size === 0) break;
      await Promise.race([
        sleep(options.pollMs ?? 1000),
        new Promise<void>((resolve) => {
          wake = resolve;
        }),
      ]);
      wake = null;
    }
  } finally {
    queueEvents.off("progress", onProgress);
    queueEvents.off("completed", onCompleted);
    queueEvents.off("failed", onFailed);
  }
  return ids.map((id) => outcomes.get(id) ?? { id, row: null, jobFailure: "analysis not found" });
}
