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
  /**
   * Awaited after each look at the ledger, with what it read: a progress view reads its
   * stages from the ledger here, so it shows each analysis' final state before the wait
   * returns. With it, a progress event also brings the next look forward.
   */
  onLook?: (look: WaitLook) => Promise<void>;
  pollMs?: number;
}

export interface WaitLook {
  /** The rows of the analyses still awaited at this look, those that ended at it included. */
  rows: AnalysisRow[];
  /** The analyses that ended at this look. */
  ended: WaitOutcome[];
}

/** Looks brought forward by progress events are at least this far apart (a burst is one look). */
const MIN_LOOK_GAP_MS = 100;

/**
 * Waits until every analysis has ended. Postgres is the source of truth (it also covers
 * analyses that ended before we started watching, and whatever progress events were
 * throttled away or lost); queue events only wake the loop early and report per-stage
 * progress.
 */
export async function waitForAnalyses(options: WaitOptions): Promise<WaitOutcome[]> {
  const { sql, queue, queueEvents, ids } = options;
  const pending = new Set(ids);
  const outcomes = new Map<string, WaitOutcome>();
  const maybeFailed = new Set<string>();
  let wake: (() => void) | null = null;
  // Set by an event that arrives while a look is under way, so the next look is not a poll away.
  let woken = false;
  const nudge = () => {
    woken = true;
    wake?.();
  };

  const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
    if (!pending.has(jobId)) return;
    options.onProgress?.(jobId, data as AnalysisProgress);
    if (options.onLook) nudge();
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
      woken = false;
      const lookedAt = Date.now();
      const rows = await sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ANY(${[...pending]})`;
      const ended: WaitOutcome[] = [];
      const end = (outcome: WaitOutcome) => {
        outcomes.set(outcome.id, outcome);
        pending.delete(outcome.id);
        ended.push(outcome);
      };
      for (const row of rows) {
        if (TERMINAL_STATUSES.has(row.status)) end({ id: row.id, row, jobFailure: null });
      }
      for (const id of [...maybeFailed]) {
        maybeFailed.delete(id);
        if (!pending.has(id)) continue;
        const job = await queue.getJob(id);
        // A failed job with retries left goes back to `delayed`, not `failed`.
        if (job && (await job.getState()) === "failed") {
          end({ id, row: rows.find((r) => r.id === id) ?? null, jobFailure: job.failedReason });
        }
      }
      await options.onLook?.({ rows, ended });
      if (pending.size === 0) break;
      if (woken) {
        await sleep(Math.max(0, lookedAt + MIN_LOOK_GAP_MS - Date.now()));
        continue;
      }
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
