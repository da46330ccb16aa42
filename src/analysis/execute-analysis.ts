import { randomUUID } from "node:crypto";
import { usdToPico } from "../ledger/money.js";
import type { TrackerRegistry } from "../ledger/tracker-registry.js";
import { recordAnalysisMetrics } from "../metrics/worker-metrics.js";
import {
  type AnalysisRow,
  type RunClaim,
  releaseAnalysisLease,
  renewAnalysisLease,
  unclaimedReason,
} from "../store/analyses-repo.js";
import type { AnalysisWriter } from "../store/analysis-writer.js";
import type { RollupFolder } from "../store/rollup-folder.js";
import { withDbRetry } from "../store/transient.js";
import type { BatchDeps } from "./batch/batch-deps.js";
import { runBatchStep } from "./batch/batch-step.js";
import { type PipelineDeps, type PipelineHooks, type PipelineResult, runAnalysis } from "./pipeline.js";

export interface ExecuteDeps extends PipelineDeps, BatchDeps {
  registry: TrackerRegistry;
  /** How long a run's claim on its analysis lasts without renewal. */
  leaseMs: number;
  /** How old another analysis' answer may be to be reused (for analyses enqueued with reuse). */
  reuseTtlSeconds: number;
  /** Folds finalized analyses into the stats rollups, many at a time, after they commit. */
  rollupFolder: RollupFolder;
  /** Group-commits runs' claims and finalizes, many analyses per statement. */
  analysisWriter: AnalysisWriter;
}

/** Another run holds the analysis' lease: try again after `retryAt`. */
export class AnalysisBusyError extends Error {
  override name = "AnalysisBusyError";
  constructor(
    readonly analysisId: string,
    readonly retryAt: Date,
  ) {
    super(`analysis ${analysisId} is being run elsewhere (lease until ${retryAt.toISOString()})`);
  }
}

/** A batch-mode analysis waits for its batch without holding a worker slot: come back at `retryAt`. */
export class BatchWaitError extends Error {
  override name = "BatchWaitError";
  constructor(
    readonly analysisId: string,
    readonly retryAt: Date,
  ) {
    super(`analysis ${analysisId} waits for its batch until ${retryAt.toISOString()}`);
  }
}

/** Another run took over while this one was finishing: its result must not be written. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

/**
 * Runs one analysis end to end: claims the run under a lease, executes the pipeline under a
 * tracker from the registry, writes totals and breakdown in one transaction, and releases
 * the tracker whatever happens. Returns null when the analysis had already ended.
 */
export async function executeAnalysis(
  analysisId: string,
  deps: ExecuteDeps,
  hooks: PipelineHooks = {},
): Promise<AnalysisRow | null> {
  const log = deps.logger.child({ analysisId });
  const owner = randomUUID();
  // The writer retries connection faults itself; so does the rare read after an empty claim.
  const won = await deps.analysisWriter.claim({ id: analysisId, owner, leaseMs: deps.leaseMs });
  const claim: RunClaim = won
    ? { kind: "claimed", row: won }
    : await withDbRetry("reading analysis", () => unclaimedReason(deps.sql, analysisId), { logger: log });
  if (claim.kind === "busy") throw new AnalysisBusyError(analysisId, claim.leaseExpiresAt);
  if (claim.kind !== "claimed") {
    log.info({ claim: claim.kind }, "analysis already ended or unknown; nothing to run");
    return null;
  }
  const { row: claimed } = claim;
  const started = { ticker: claimed.ticker, model: claimed.model, run: claimed.runs };
  // A batch-mode analysis comes back at every poll of its batch: its steps are detail, and
  // "stages queued for the next batch" says when it starts.
  if (claimed.batch) log.debug(started, "batch analysis step");
  else log.info(started, "analysis started");
  let finished = false;
  const heartbeat = setInterval(() => {
    renewAnalysisLease(deps.sql, analysisId, owner, deps.leaseMs)
      // After finalize the lease is gone by design; only a live run losing it is news.
      .then((held) => held || finished || log.warn("analysis lease lost to another run"))
      .catch((err: unknown) => log.warn({ err }, "could not renew analysis lease"));
  }, deps.leaseMs / 3);
  try {
    return await deps.registry.withTracker(
      { analysisId, ticker: claimed.ticker, model: claimed.model },
      async (tracker) => {
        const runHooks: PipelineHooks = {
          ...hooks,
          reuseWithinSeconds: claimed.reuse ? deps.reuseTtlSeconds : null,
          contextCache: claimed.context_cache && !claimed.batch,
          firstRun: claimed.runs === 1,
          limits: {
            maxTokens: claimed.max_tokens,
            maxCostPico: claimed.max_cost_usd === null ? null : usdToPico(claimed.max_cost_usd),
          },
        };
        let result: PipelineResult;
        if (claimed.batch) {
          const step = await runBatchStep(
            tracker,
            { ...deps, logger: log },
            {
              ...runHooks,
              fallbackSync: claimed.batch_fallback === "sync",
            },
          );
          if ("waitUntil" in step) throw new BatchWaitError(analysisId, step.waitUntil);
          result = step.result;
        } else {
          result = await runAnalysis(tracker, { ...deps, logger: log }, runHooks);
        }
        // The writer retries connection faults itself, like every ledger write.
        const row = await deps.analysisWriter.finalize({
          id: analysisId,
          leaseOwner: owner,
          status: result.status,
          totals: tracker.totals(),
          saved: tracker.saved(),
          breakdown: tracker.breakdown(),
          decision: result.decision,
          error: result.error,
          marketDataSource: result.marketDataSource,
          dataHash: result.dataHash,
        });
        finished = true;
        deps.rollupFolder.poke();
        if (!row) throw new LeaseLostError(`analysis ${analysisId} was taken over by another run`);
        recordAnalysisMetrics(row);
        log.info(
          {
            status: row.status,
            calls: row.llm_calls_count,
            totalTokens: row.total_tokens,
            costUsd: row.cost_usd,
            durationMs: row.duration_ms,
          },
          "analysis finished",
        );
        return row;
      },
    );
  } catch (error) {
    // Interrupted, failed, or waiting for a batch before finalizing: let the next run start
    // without waiting out the lease.
    await releaseAnalysisLease(deps.sql, analysisId, owner).catch(() => undefined);
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
}
