import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../logger.js";
import {
  type AnalysisRow,
  claimAnalysisRuns,
  finalizeAnalysis,
  releaseAnalysisLease,
  unclaimedReason,
} from "../store/analyses-repo.js";
import { type BatchRow, getBatch, pollBatchNow, withdrawAnalysisRequests } from "../store/batches-repo.js";
import { listCalls } from "../store/calls-repo.js";
import type { Sql } from "../store/database.js";
import { ledgerFromCalls, resumEndedAnalyses } from "../store/ended-totals-repo.js";
import { withDbRetry } from "../store/transient.js";
import type { BatchDeps } from "./batch/batch-deps.js";
import { pollBatch } from "./batch/batch-poller.js";

export type NotCancellableReason = "missing" | "ended" | "busy";

/** The analysis cannot be cancelled: it is unknown, it has ended, or a run holds it. */
export class NotCancellableError extends Error {
  override name = "NotCancellableError";
  constructor(
    readonly reason: NotCancellableReason,
    readonly analysisId: string,
    message: string,
  ) {
    super(message);
  }
}

/** The provider would not cancel a batch that only this analysis uses, and it has not ended. */
export class BatchCancelError extends Error {
  override name = "BatchCancelError";
}

export interface CancelDeps {
  sql: Sql;
  logger: Logger;
  /**
   * What reading and cancelling the provider's batches needs, opened only when the analysis
   * has a batch of its own to cancel; null when they cannot be reached from here (the
   * built-in emulator of another process holds them).
   */
  openBatchDeps: () => Promise<BatchDeps | null>;
  /** Removes the analysis' job unless a worker is running it; true when one was removed. */
  removeJob: (analysisId: string) => Promise<boolean>;
  /** How long a run holding the analysis is waited for before the cancel is refused; default 3 s. */
  busyWaitMs?: number;
}

export interface CancelOutcome {
  /** The analysis as it ended: `failed`, error "cancelled". */
  row: AnalysisRow;
  /** Its batch requests that had not been sent, taken back. */
  withdrawnRequests: number;
  /** Batches only it used that the provider was asked to cancel. */
  cancelledBatches: number;
}

/** Long enough for the few statements a cancel makes; it is released by the finalize. */
const CANCEL_LEASE_MS = 60_000;
const CLAIM_RETRY_MS = 200;
/** How long a cancelled batch is polled for its end, so its requests are recorded (batch_cancelled). */
const INGEST_POLLS = 10;
const INGEST_POLL_MS = 200;

/**
 * Cancels a queued or waiting analysis. It takes the analysis' lease as a run would, so no
 * worker step runs beside it (a run holding it is waited for a few seconds, then the cancel is
 * refused); withdraws its batch requests not sent yet; cancels the pending batches no other
 * analysis shares; ends it `failed` with error "cancelled" and totals summed from its stored
 * calls; and removes its job. A batch it shares goes on, and the calls it later brings for this
 * analysis are added to its totals at ingest (resumEndedAnalyses).
 */
export async function cancelAnalysis(deps: CancelDeps, analysisId: string): Promise<CancelOutcome> {
  const log = deps.logger.child({ analysisId });
  const owner = `cancel:${randomUUID()}`;
  const claimed = await claimForCancel(deps, analysisId, owner);
  let row: AnalysisRow;
  let withdrawn: number;
  let cancelledBatches: number;
  try {
    const requests = await withdrawAnalysisRequests(deps.sql, analysisId);
    withdrawn = requests.withdrawn;
    cancelledBatches = await cancelSoleBatches(deps, claimed, requests.soleBatches);
    row = await endCancelled(deps, claimed, owner);
  } catch (error) {
    // The next run may go on at once: it sends again any stage whose request was withdrawn.
    await releaseAnalysisLease(deps.sql, analysisId, owner).catch(() => undefined);
    throw error;
  }
  // Ended now: a job left (running, or the queue away) finds it ended and does nothing.
  await deps
    .removeJob(analysisId)
    .catch((err: unknown) => log.warn({ err }, "could not remove the job of a cancelled analysis"));
  log.info({ withdrawn, cancelledBatches }, "analysis cancelled");
  return { row, withdrawnRequests: withdrawn, cancelledBatches };
}

/** Takes the analysis' lease, waiting up to busyWaitMs for a run that holds it. */
async function claimForCancel(deps: CancelDeps, analysisId: string, owner: string): Promise<AnalysisRow> {
  const deadline = Date.now() + (deps.busyWaitMs ?? 3_000);
  for (;;) {
    const [claimed] = await claimAnalysisRuns(deps.sql, [
      { id: analysisId, owner, leaseMs: CANCEL_LEASE_MS },
    ]);
    if (claimed) return claimed;
    const why = await unclaimedReason(deps.sql, analysisId);
    if (why.kind === "missing") {
      throw new NotCancellableError("missing", analysisId, `analysis ${analysisId} not found`);
    }
    if (why.kind === "ended") {
      throw new NotCancellableError(
        "ended",
        analysisId,
        `analysis ${analysisId} already ended (status ${why.row.status})`,
      );
    }
    if (Date.now() >= deadline) throw busy(analysisId, "a worker holds it");
    await sleep(CLAIM_RETRY_MS);
  }
}

const busy = (analysisId: string, why: string) =>
  new NotCancellableError(
    "busy",
    analysisId,
    `analysis ${analysisId} is running (${why}); it cannot be cancelled now`,
  );

/**
 * Asks the provider to cancel each batch, then reads it back so its requests are recorded
 * (batch_cancelled, or their answers if it finished first). Returns how many it cancelled.
 */
async function cancelSoleBatches(
  deps: CancelDeps,
  analysis: AnalysisRow,
  batches: readonly BatchRow[],
): Promise<number> {
  if (batches.length === 0) return 0;
  const log = deps.logger.child({ analysisId: analysis.id });
  // Not sent yet, or sent by a worker that died before storing its name: its worker finds it.
  if (batches.some((batch) => batch.name === null)) throw busy(analysis.id, "its batch is being sent");
  const batchDeps = await deps.openBatchDeps();
  if (!batchDeps) {
    log.warn(
      { batches: batches.map((b) => b.name) },
      "the batches are held by another process' built-in emulator; they are left to end",
    );
    return 0;
  }
  let cancelled = 0;
  for (const batch of batches) {
    const name = batch.name as string;
    let refusal: unknown = null;
    try {
      await batchDeps.llm.batches.cancel(name);
      cancelled++;
    } catch (error) {
      refusal = error;
    }
    if (!(await ingestWhenEnded(batchDeps, batch.display_name)) && refusal !== null) {
      const reason = refusal instanceof Error ? refusal.message : String(refusal);
      throw new BatchCancelError(`could not cancel batch ${name} of analysis ${analysis.id}: ${reason}`);
    }
  }
  return cancelled;
}

/** Polls the batch for a moment; true once its end is recorded. */
async function ingestWhenEnded(deps: BatchDeps, displayName: string): Promise<boolean> {
  for (let poll = 0; poll < INGEST_POLLS; poll++) {
    if (poll > 0) await sleep(INGEST_POLL_MS);
    await pollBatchNow(deps.sql, displayName);
    if ((await pollBatch(deps, displayName)) === "ingested") return true;
    if ((await getBatch(deps.sql, displayName))?.ingested_at) return true;
  }
  return false;
}

/** Ends the analysis under this cancel's lease, its totals summed from the calls it stored. */
async function endCancelled(
  { sql, logger }: Pick<CancelDeps, "sql" | "logger">,
  claimed: AnalysisRow,
  owner: string,
): Promise<AnalysisRow> {
  const { totals, breakdown } = ledgerFromCalls(claimed, await listCalls(sql, claimed.id));
  const ended = await finalizeAnalysis(sql, {
    id: claimed.id,
    leaseOwner: owner,
    status: "failed",
    totals,
    breakdown,
    decision: null,
    error: "cancelled",
    marketDataSource: null,
  });
  if (!ended) throw new Error(`analysis ${claimed.id} was taken over while it was being cancelled`);
  // A batch it shares may have been ingested since its calls were read: they are summed again.
  const [resummed] = await withDbRetry(
    "re-summing a cancelled analysis",
    () => resumEndedAnalyses(sql, [claimed.id]),
    { logger },
  );
  return resummed ?? ended;
}
