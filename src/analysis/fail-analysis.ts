import type { Logger } from "../logger.js";
import { recordAnalysisMetrics } from "../metrics/worker-metrics.js";
import {
  type AnalysisRow,
  finalizeAnalysis,
  getAnalysis,
  TERMINAL_STATUSES,
} from "../store/analyses-repo.js";
import { listCalls } from "../store/calls-repo.js";
import type { Sql } from "../store/database.js";
import { ledgerFromCalls } from "../store/ended-totals-repo.js";

/**
 * Ends an analysis whose job gave up (retries exhausted, infrastructure gone): its ledger is
 * rebuilt from the calls already stored, so every billed token is still in the totals.
 * Does nothing while another run holds a live lease on it.
 */
export async function failAnalysisFromStore(
  deps: { sql: Sql; logger: Logger },
  analysisId: string,
  error: string,
  status: "failed" | "budget_exceeded" = "failed",
): Promise<AnalysisRow | null> {
  const row = await getAnalysis(deps.sql, analysisId);
  if (!row || TERMINAL_STATUSES.has(row.status)) return null;
  const { totals, breakdown } = ledgerFromCalls(row, await listCalls(deps.sql, analysisId));
  const failed = await finalizeAnalysis(deps.sql, {
    id: analysisId,
    leaseOwner: null,
    status,
    totals,
    breakdown,
    decision: null,
    error,
    marketDataSource: null,
  });
  if (failed) recordAnalysisMetrics(failed);
  if (failed) deps.logger.warn({ analysisId, status, error }, "analysis ended from its stored calls");
  return failed;
}
