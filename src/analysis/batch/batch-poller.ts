import { type BatchStatus, isBatchDone } from "../../llm/gemini-batches.js";
import { recordBatchMetrics } from "../../metrics/worker-metrics.js";
import {
  analysesOfBatch,
  type BatchRow,
  batchRequestsOf,
  claimBatchPoll,
  ingestBatch,
  overdueBatches,
  updateBatch,
} from "../../store/batches-repo.js";
import { resumEndedAnalyses } from "../../store/ended-totals-repo.js";
import { withDbRetry } from "../../store/transient.js";
import { type BatchDeps, isProviderRefusal, pollIntervalMs } from "./batch-deps.js";
import { callRowsOf } from "./batch-responses.js";
import { createOnProvider } from "./batch-submitter.js";

/** Beyond the create request's own timeout, before a batch still 'creating' counts as cut off. */
const CREATE_MARGIN_MS = 30_000;
/** Beyond the create timeout, how long a poll's claim holds the batch for its poller. */
const POLL_CLAIM_MARGIN_MS = 5_000;

export type PollResult = "ingested" | "waiting";

/**
 * Asks the provider about one batch, if its poll is due and no other worker is asking: a
 * finished batch's responses are written to llm_calls (once, in one transaction) and the
 * analyses waiting on it are woken; an unfinished one is polled again later, less often.
 */
export async function pollBatch(deps: BatchDeps, displayName: string): Promise<PollResult> {
  const log = deps.logger.child({ batch: displayName });
  // Held past the poll's own requests (each under the create timeout); a poller killed
  // mid-poll holds the batch up for this long at most.
  const claimed = await claimBatchPoll(deps.sql, displayName, deps.createTimeoutMs + POLL_CLAIM_MARGIN_MS);
  if (!claimed) return "waiting";
  const later = async (fields: Partial<Parameters<typeof updateBatch>[2]> = {}) => {
    await updateBatch(deps.sql, displayName, {
      state: claimed.state,
      ...fields,
      nextPollAt: new Date(Date.now() + pollIntervalMs(deps.batchSettings, claimed.polls - 1)),
    });
    return "waiting" as const;
  };
  try {
    if (claimed.state === "failed" && claimed.name === null) {
      return await ingest(deps, claimed, failedBatch(claimed.error ?? "refused", claimed.ended_at));
    }
    const status = claimed.name ? await deps.llm.batches.get(claimed.name) : await findCreated(deps, claimed);
    if (!status) return "waiting";
    if (!isBatchDone(status.state)) {
      return await later({ name: status.name, state: status.state, submittedAt: status.createTime });
    }
    return await ingest(deps, claimed, status);
  } catch (error) {
    if (isProviderRefusal(error)) {
      // The provider no longer knows the batch (deleted) or refuses us: its requests end failed.
      log.error({ err: error.message }, "batch can no longer be read; its requests end failed");
      return await ingest(deps, claimed, failedBatch(error.message, null));
    }
    log.warn(
      { err: error instanceof Error ? error.message : String(error) },
      "batch poll failed; will poll again",
    );
    return await later();
  }
}

/**
 * A batch stored but not known to be created: after a crash between create and storing its
 * name, it is found by display name; if the provider has none, it is sent now. A batch still
 * within its create request's timeout is left to the worker creating it.
 */
async function findCreated(deps: BatchDeps, batch: BatchRow): Promise<BatchStatus | null> {
  if (Date.now() - batch.created_at.getTime() < deps.createTimeoutMs + CREATE_MARGIN_MS) {
    await updateBatch(deps.sql, batch.display_name, {
      state: "creating",
      nextPollAt: new Date(Date.now() + deps.batchSettings.pollMinMs),
    });
    return null;
  }
  const found = await deps.llm.batches.findByDisplayName(batch.display_name);
  if (found) {
    deps.logger.info(
      { batch: batch.display_name, name: found.name },
      "batch found again by its display name",
    );
    await updateBatch(deps.sql, batch.display_name, {
      name: found.name,
      state: found.state,
      submittedAt: found.createTime ?? batch.created_at,
    });
    return isBatchDone(found.state) ? deps.llm.batches.get(found.name) : found;
  }
  await createOnProvider(deps, batch, await batchRequestsOf(deps.sql, batch.display_name));
  return null;
}

/** A batch that ended failed on our side of the wire (refused at create, or unreadable since). */
const failedBatch = (message: string, endTime: Date | null) =>
  ({ state: "failed", endTime, error: { message }, responses: null }) as const;

async function ingest(
  deps: BatchDeps,
  batch: BatchRow,
  status: Pick<BatchStatus, "state" | "endTime" | "error" | "responses"> & { createTime?: Date | null },
): Promise<PollResult> {
  const requests = await batchRequestsOf(deps.sql, batch.display_name, { bodies: false });
  const submittedAt = batch.submitted_at ?? status.createTime ?? batch.created_at;
  const endedAt = status.endTime ?? new Date();
  const rows = callRowsOf(
    { state: status.state, submittedAt, endedAt, error: status.error, responses: status.responses },
    requests,
  );
  const error = status.error?.message ?? null;
  const written = await ingestBatch(deps.sql, batch.display_name, {
    state: status.state,
    endedAt,
    error,
    rows,
  });
  if (written) {
    recordBatchMetrics(status.state, rows);
    const failed = rows.filter((row) => row.status !== "success").length;
    deps.logger.info(
      { batch: batch.display_name, name: batch.name, state: status.state, calls: rows.length, failed },
      "batch responses recorded",
    );
    const analyses = await analysesOfBatch(deps.sql, batch.display_name);
    // An analysis cancelled while a batch it shared was out has ended: these calls come after
    // its finalize, so its totals are summed again (never left short of what was billed).
    await withDbRetry("re-summing ended analyses", () => resumEndedAnalyses(deps.sql, analyses), {
      logger: deps.logger,
    })
      .then((rewritten) => {
        if (rewritten.length === 0) return;
        deps.logger.info(
          { batch: batch.display_name, analyses: rewritten.map((row) => row.id) },
          "ended analyses re-summed with their batch calls",
        );
      })
      .catch((err: unknown) =>
        deps.logger.error(
          { err, batch: batch.display_name },
          "could not re-sum the ended analyses of a batch",
        ),
      );
    await deps
      .wakeAnalyses?.(analyses)
      .catch((err: unknown) =>
        deps.logger.warn(
          { err, batch: batch.display_name },
          "could not wake the analyses of a batch; they poll on",
        ),
      );
  }
  return "ingested";
}

/** A batch whose poll is overdue by this much has no job polling it (its analyses ended, or their jobs were lost). */
const ORPHANED_AFTER_MS = 60_000;

/**
 * Polls batches no analysis' job is polling: one cancelled with its analysis, or whose jobs
 * the queue lost. Run by every worker's recovery sweep; the poll claim keeps it to one.
 */
export async function pollOrphanedBatches(deps: BatchDeps): Promise<number> {
  const names = await overdueBatches(deps.sql, ORPHANED_AFTER_MS);
  for (const name of names) await pollBatch(deps, name);
  return names.length;
}
