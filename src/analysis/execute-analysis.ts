import type { TrackerRegistry } from "../ledger/tracker-registry.js";
import { type AnalysisRow, finalizeAnalysis, startAnalysisRun } from "../store/analyses-repo.js";
import { withDbRetry } from "../store/transient.js";
import { type PipelineDeps, type PipelineHooks, runAnalysis } from "./pipeline.js";

export interface ExecuteDeps extends PipelineDeps {
  registry: TrackerRegistry;
}

/**
 * Runs one analysis end to end: claims the run, executes the pipeline under a tracker from
 * the registry, writes totals and breakdown in one transaction, and releases the tracker
 * whatever happens. Returns null when the analysis had already ended (a duplicate job).
 */
export async function executeAnalysis(
  analysisId: string,
  deps: ExecuteDeps,
  hooks: PipelineHooks = {},
): Promise<AnalysisRow | null> {
  const log = deps.logger.child({ analysisId });
  const claimed = await withDbRetry("starting analysis", () => startAnalysisRun(deps.sql, analysisId), {
    logger: log,
  });
  if (!claimed) {
    log.info("analysis already ended or unknown; nothing to run");
    return null;
  }
  log.info({ ticker: claimed.ticker, model: claimed.model, run: claimed.runs }, "analysis started");
  return deps.registry.withTracker(
    { analysisId, ticker: claimed.ticker, model: claimed.model },
    async (tracker) => {
      const result = await runAnalysis(tracker, { ...deps, logger: log }, hooks);
      const row = await withDbRetry(
        "finalizing analysis",
        () =>
          deps.sql.begin((tx) =>
            finalizeAnalysis(tx, {
              id: analysisId,
              status: result.status,
              totals: tracker.totals(),
              breakdown: tracker.breakdown(),
              decision: result.decision,
              error: result.error,
              marketDataSource: result.marketDataSource,
            }),
          ),
        { logger: log },
      );
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
}
