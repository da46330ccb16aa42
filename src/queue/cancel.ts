import { setTimeout as sleep } from "node:timers/promises";
import { type CancelOutcome, cancelAnalysis } from "../analysis/cancel-analysis.js";
import type { Config } from "../config/config.js";
import { connectLlm, type LlmConnection } from "../llm/create-llm.js";
import type { Logger } from "../logger.js";
import type { Sql } from "../store/database.js";
import { withTimeout } from "../timeout.js";
import type { AnalysisQueue } from "./queue-backend.js";

/** How long removing the job may take before the cancel goes on without it. */
const REMOVE_JOB_TIMEOUT_MS = 3_000;
const REMOVE_RETRY_MS = 100;

/** A worker's lock refuses removal while it runs the job (or took it between the two reads). */
async function removeUnlessRunning(job: { isActive(): Promise<boolean>; remove(): Promise<void> }) {
  if (await job.isActive()) return false;
  return job
    .remove()
    .then(() => true)
    .catch(() => false);
}

/**
 * Removes an analysis' job once no worker runs it: a worker that took it just now finds the
 * analysis ended (or held by the cancel, and puts the job back delayed) within moments, and
 * its lock refuses removal until then. True when a job was removed; false when there was none,
 * or it was still running at the deadline (it ends by itself, doing nothing).
 */
export async function removeAnalysisJob(queue: AnalysisQueue, analysisId: string): Promise<boolean> {
  const deadline = Date.now() + REMOVE_JOB_TIMEOUT_MS;
  const removal = async () => {
    for (;;) {
      const job = await queue.getJob(analysisId);
      if (!job) return false;
      if (await removeUnlessRunning(job)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(REMOVE_RETRY_MS);
    }
  };
  return withTimeout(
    removal(),
    REMOVE_JOB_TIMEOUT_MS + 1_000,
    () => new Error(`the queue did not answer within ${REMOVE_JOB_TIMEOUT_MS} ms`),
  );
}

/**
 * `cancel` and POST /analyses/{id}/cancel: cancelAnalysis with this process' queue and, when the
 * analysis has a batch of its own, the Gemini endpoint of the config (connected only then).
 */
export async function cancelEnqueuedAnalysis(
  deps: { sql: Sql; queue: AnalysisQueue; config: Config; logger: Logger },
  analysisId: string,
): Promise<CancelOutcome> {
  const { sql, queue, config, logger } = deps;
  let llm: LlmConnection | undefined;
  try {
    return await cancelAnalysis(
      {
        sql,
        logger,
        removeJob: (id) => removeAnalysisJob(queue, id),
        async openBatchDeps() {
          // A built-in emulator started here would not hold the worker's batches.
          if (config.gemini.useEmulator) return null;
          llm ??= await connectLlm(config, logger);
          return {
            sql,
            llm: llm.client,
            logger,
            batchSettings: config.batch,
            createTimeoutMs: config.gemini.timeoutMs,
          };
        },
      },
      analysisId,
    );
  } finally {
    await llm?.close();
  }
}
