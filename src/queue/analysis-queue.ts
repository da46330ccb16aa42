import type { JobsOptions } from "bullmq";
import type { AnalysisJobData } from "./job-payload.js";
import type { AnalysisQueue } from "./queue-backend.js";

export type { AnalysisQueue } from "./queue-backend.js";

/**
 * Job-level retries cover infrastructure faults (Postgres or Redis away longer than a
 * write's own retries); LLM faults are retried per call inside the job. Finished jobs are
 * kept for a day (at most 10,000) so Redis does not grow without bound; the ledger is in Postgres.
 */
export const ANALYSIS_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: "exponential", delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

/** Adds the job with the analysis id as job id, so BullMQ drops duplicates of a live job. */
export async function addAnalysisJob(
  queue: AnalysisQueue,
  data: AnalysisJobData,
  options: { delayMs?: number } = {},
): Promise<void> {
  await queue.add("analysis", data, {
    ...ANALYSIS_JOB_OPTIONS,
    jobId: data.analysisId,
    ...(options.delayMs ? { delay: options.delayMs } : {}),
  });
}

/**
 * Runs the waiting (delayed) jobs of these analyses now: their batch answers are in. A job
 * that is not delayed (running, or already woken) is left as it is; one that cannot be
 * promoted runs at its own time anyway.
 */
export async function wakeAnalysisJobs(queue: AnalysisQueue, analysisIds: readonly string[]): Promise<void> {
  await Promise.all(
    analysisIds.map(async (id) => {
      const job = await queue.getJob(id);
      if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
    }),
  );
}
