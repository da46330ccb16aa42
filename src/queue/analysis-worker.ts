import { setMaxListeners } from "node:events";
import { DelayedError, type Job } from "bullmq";
import {
  assertDailyBudgetLeft,
  DailyBudgetExhaustedError,
  hasDailyBudget,
  noteBudgetCrossings,
} from "../analysis/daily-budget.js";
import {
  AnalysisBusyError,
  BatchWaitError,
  type ExecuteDeps,
  executeAnalysis,
} from "../analysis/execute-analysis.js";
import { failAnalysisFromStore } from "../analysis/fail-analysis.js";
import type { StageState } from "../analysis/pipeline.js";
import type { DailyBudget } from "../config/config.js";
import { CALL_TYPES } from "../ledger/call-record.js";
import { recordBudgetAlert } from "../metrics/worker-metrics.js";
import { inFlightRequests } from "../store/batches-repo.js";
import { type AnalysisJobData, analysisJobSchema } from "./job-payload.js";
import { ProgressThrottle } from "./progress-throttle.js";
import type { QueueBackend, WorkerSettings } from "./queue-backend.js";

/**
 * Progress reported per stage, throttled (ProgressThrottle): a job's last state goes out only
 * if a second has passed since the update before, so most jobs end with it unsent (the final
 * stage's end and 6/6 included). `analyze --wait` takes from it only what the ledger cannot
 * say (a stage reused, skipped under a cap, or about to make its first call); tokens, costs,
 * retries and the final state it reads from `llm_calls` and `stock_analyses`.
 */
export interface AnalysisProgress {
  stages: Record<string, StageState | "pending">;
  done: number;
  total: number;
}

export interface AnalysisWorkerOptions extends WorkerSettings {
  backend: QueueBackend;
  budget?: DailyBudget;
}

/** Asks the worker to put the job back until `retryAt` without using one of its attempts. */
class DeferJob extends Error {
  constructor(readonly retryAt: Date) {
    super(`deferred until ${retryAt.toISOString()}`);
  }
}

/**
 * Today's budget gate: with budget left, null; once spent, either ends the analysis as
 * `budget_exceeded` from what it stored (refuse) or defers the job to the reset (queue).
 */
async function gateOnDailyBudget(deps: ExecuteDeps, budget: DailyBudget | undefined, analysisId: string) {
  if (!budget || !hasDailyBudget(budget)) return null;
  try {
    await assertDailyBudgetLeft(deps.sql, budget);
    return null;
  } catch (error) {
    if (!(error instanceof DailyBudgetExhaustedError)) throw error;
    // Requests already out in a batch were reserved against the budget when queued: their
    // answers are collected whatever the day's spend since.
    if ((await inFlightRequests(deps.sql, analysisId)).length > 0) return null;
    if (budget.whenExceeded === "queue") throw new DeferJob(error.resetsAt);
    await failAnalysisFromStore(deps, analysisId, error.message, "budget_exceeded");
    return { status: "budget_exceeded" };
  }
}

const isSettled = (state: StageState | "pending" | undefined) =>
  state !== undefined && state !== "pending" && state !== "running";

/** The BullMQ processor: validate the payload, run the analysis, report per-stage progress. */
export function analysisProcessor(deps: ExecuteDeps, shutdown: AbortSignal, budget?: DailyBudget) {
  return async (job: Job<AnalysisJobData>, _token?: string): Promise<{ status: string } | null> => {
    const data = analysisJobSchema.parse(job.data);
    const refused = await gateOnDailyBudget(deps, budget, data.analysisId);
    if (refused) return refused;
    const progress: AnalysisProgress = {
      stages: Object.fromEntries(CALL_TYPES.map((t) => [t, "pending"])),
      done: 0,
      total: CALL_TYPES.length,
    };
    // The throttle holds the live object and copies it only when it sends (a few times a job).
    const reporter = new ProgressThrottle<AnalysisProgress>((p) =>
      job.updateProgress({ ...p, stages: { ...p.stages } }),
    );
    const row = await executeAnalysis(data.analysisId, deps, {
      signal: shutdown,
      onStage: (callType, state) => {
        if (isSettled(state) && !isSettled(progress.stages[callType])) progress.done++;
        progress.stages[callType] = state;
        reporter.update(progress);
      },
    }).finally(() => reporter.stop());
    if (row && budget) {
      await noteBudgetCrossings({ ...deps, onAlert: recordBudgetAlert }, budget).catch((err: unknown) =>
        deps.logger.warn({ analysisId: data.analysisId, err }, "could not check the daily budget"),
      );
    }
    return row ? { status: row.status } : null;
  };
}

/**
 * Wraps the processor so a job whose analysis is being run elsewhere (another worker holds
 * its lease), or that waits for tomorrow's budget, comes back later without using up one of
 * its attempts.
 */
function deferWhenAsked(
  processor: ReturnType<typeof analysisProcessor>,
): ReturnType<typeof analysisProcessor> {
  return async (job, token) => {
    try {
      return await processor(job, token);
    } catch (error) {
      if (
        !(error instanceof AnalysisBusyError || error instanceof DeferJob || error instanceof BatchWaitError)
      ) {
        throw error;
      }
      // A batch wait is exact (the job is also woken when its batch is in); the others add slack.
      const slack = error instanceof BatchWaitError ? 0 : 250;
      await job.moveToDelayed(Math.max(error.retryAt.getTime(), Date.now()) + slack, token);
      throw new DelayedError();
    }
  };
}

export function createAnalysisWorker(deps: ExecuteDeps, options: AnalysisWorkerOptions) {
  const shutdown = new AbortController();
  // Every in-flight LLM call listens on this one signal (and removes its listener when done).
  setMaxListeners(0, shutdown.signal);
  const worker = options.backend.worker(
    deferWhenAsked(analysisProcessor(deps, shutdown.signal, options.budget)),
    {
      concurrency: options.concurrency,
      lockMs: options.lockMs,
    },
  );
  worker.on("failed", (job, error) => {
    deps.logger.error(
      { analysisId: job?.id, err: error, attemptsMade: job?.attemptsMade },
      "analysis job failed",
    );
    if (!job?.id || job.attemptsMade < (job.opts.attempts ?? 1) || shutdown.signal.aborted) return;
    // Retries are used up: end the analysis from what it stored rather than leave it `running`.
    failAnalysisFromStore(
      deps,
      job.id,
      `job failed after ${job.attemptsMade} attempts: ${error.message}`,
    ).catch((err: unknown) =>
      deps.logger.error({ analysisId: job.id, err }, "could not mark analysis failed"),
    );
  });
  worker.on("error", (error) => deps.logger.error({ err: error }, "worker error"));

  /**
   * Stops taking jobs and lets in-flight analyses finish for up to `drainMs`; then cancels
   * their LLM calls so they are left to be resumed by the next worker, not finalized half-done.
   */
  async function close(drainMs = 30_000): Promise<void> {
    const closing = worker.close();
    const timer = setTimeout(() => shutdown.abort(), drainMs);
    try {
      await closing;
    } finally {
      clearTimeout(timer);
    }
  }

  return { worker, close };
}
