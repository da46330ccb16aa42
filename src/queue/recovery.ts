import { failAnalysisFromStore } from "../analysis/fail-analysis.js";
import type { Logger } from "../logger.js";
import type { AnalysisStatus } from "../store/analyses-repo.js";
import type { Sql } from "../store/database.js";
import { type AnalysisQueue, addAnalysisJob } from "./analysis-queue.js";

export interface RecoveryReport {
  requeued: string[];
  failed: string[];
}

/**
 * Postgres is the source of truth for which analyses are unfinished; Redis is not (it may have
 * restarted without persistence, or been flushed). Re-adds the job of every unfinished
 * analysis that has none and no live run (its lease is free or expired), and ends as `failed` those whose job gave up for good. Safe to run
 * from every worker at once: job id = analysis id, so re-adding is idempotent.
 */
export async function recoverOrphanedAnalyses(
  deps: { sql: Sql; queue: AnalysisQueue; logger: Logger },
  options: { minAgeMs: number },
): Promise<RecoveryReport> {
  const report: RecoveryReport = { requeued: [], failed: [] };
  const unfinished = await deps.sql<{ id: string; ticker: string; model: string; status: AnalysisStatus }[]>`
    SELECT id, ticker, model, status FROM stock_analyses
    WHERE status IN ('queued', 'running') AND created_at < now() - ${options.minAgeMs} * interval '1 millisecond'
      AND (lease_expires_at IS NULL OR lease_expires_at < now())
    ORDER BY created_at
    LIMIT 10000`;
  for (const analysis of unfinished) {
    const job = await deps.queue.getJob(analysis.id);
    if (!job) {
      await addAnalysisJob(deps.queue, {
        analysisId: analysis.id,
        ticker: analysis.ticker,
        model: analysis.model,
      });
      report.requeued.push(analysis.id);
      deps.logger.warn(
        { analysisId: analysis.id, status: analysis.status },
        "re-queued analysis whose job was lost",
      );
    } else if ((await job.getState()) === "failed") {
      const reason = `job failed after ${job.attemptsMade} attempts: ${job.failedReason}`;
      if (await failAnalysisFromStore(deps, analysis.id, reason)) report.failed.push(analysis.id);
    }
  }
  return report;
}
