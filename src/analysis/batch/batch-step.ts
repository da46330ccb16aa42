import type { TokenTracker } from "../../ledger/token-tracker.js";
import { type InFlightRequest, inFlightRequests, queueBatchRequests } from "../../store/batches-repo.js";
import { type PipelineDeps, type PipelineHooks, type PipelineResult, runAnalysis } from "../pipeline.js";
import type { BatchDeps } from "./batch-deps.js";
import { pollBatch } from "./batch-poller.js";
import { BatchStageRunner } from "./batch-stage-runner.js";
import { submitWaitingRequests } from "./batch-submitter.js";

/** The analysis waits for a batch: its job comes back at `until` (or earlier, when woken). */
export interface BatchWait {
  waitUntil: Date;
}

export type BatchStepResult = BatchWait | { result: PipelineResult };

/**
 * One step of an analysis in batch mode, run each time its job comes back. While its requests
 * are out, it moves them along (sends those that have gathered long enough, polls their batch)
 * and waits; once every answer is in, it runs the pipeline over the stored answers, which
 * either queues the next phase's requests (final_decision after the five stages) or ends.
 */
export async function runBatchStep(
  tracker: TokenTracker,
  deps: PipelineDeps & BatchDeps,
  hooks: PipelineHooks & { fallbackSync: boolean },
): Promise<BatchStepResult> {
  for (let round = 0; round < 3; round++) {
    const inFlight = await inFlightRequests(deps.sql, tracker.analysisId);
    if (inFlight.length > 0) {
      const waitUntil = await advance(deps, tracker.analysisId, inFlight);
      if (waitUntil) return { waitUntil };
      continue; // its batch was just ingested: go on at once
    }
    const runner = new BatchStageRunner(hooks.fallbackSync);
    try {
      const result = await runAnalysis(tracker, deps, { ...hooks, firstRun: false, batch: runner });
      if (!result.pending) return { result };
      await queueBatchRequests(deps.sql, runner.queued);
      deps.logger.info(
        { analysisId: tracker.analysisId, stages: runner.queued.map((r) => r.call_type) },
        "stages queued for the next batch",
      );
      return { waitUntil: new Date(Date.now() + deps.batchSettings.collectMs) };
    } finally {
      await runner.releaseHolds();
    }
  }
  return { waitUntil: new Date(Date.now() + deps.batchSettings.pollMinMs) };
}

/**
 * Moves this analysis' requests along: those not sent yet go once the oldest has gathered for
 * collectMs (with every other request of the model waiting then); sent ones have their batch
 * polled when due. Null when a batch was ingested just now; else when to look again.
 */
async function advance(
  deps: BatchDeps,
  analysisId: string,
  inFlight: InFlightRequest[],
): Promise<Date | null> {
  const now = Date.now();
  const unsent = inFlight.filter((request) => request.batch === null);
  if (unsent.length > 0) {
    const due = Math.min(...unsent.map((r) => r.queued_at.getTime())) + deps.batchSettings.collectMs;
    if (due > now) return new Date(due);
    for (const model of new Set(unsent.map((r) => r.model))) await submitWaitingRequests(deps, model);
    return new Date(Date.now() + deps.batchSettings.pollMinMs);
  }
  const batches = new Map(
    inFlight.flatMap((r) => (r.batch ? [[r.batch.display_name, r.batch] as const] : [])),
  );
  let ingested = false;
  for (const name of batches.keys()) {
    if ((await pollBatch(deps, name)) === "ingested") ingested = true;
  }
  if (ingested) return null;
  const after = await inFlightRequests(deps.sql, analysisId);
  if (after.length === 0) return null; // ingested by another worker meanwhile
  // A batch another worker is polling right now: look again shortly (its answers may be in by
  // then, and a wake-up sent while this job still runs would be missed); else at its next poll.
  const next = after.flatMap((r) =>
    r.batch
      ? [
          r.batch.poll_claimed_until && r.batch.poll_claimed_until.getTime() > now
            ? now + deps.batchSettings.pollMinMs
            : r.batch.next_poll_at.getTime(),
        ]
      : [now + deps.batchSettings.collectMs],
  );
  return new Date(Math.max(Date.now() + 10, Math.min(...next)));
}
