import { randomUUID } from "node:crypto";
import {
  assignWaitingRequests,
  type BatchRequestRow,
  type BatchRow,
  batchRequestsOf,
  updateBatch,
} from "../../store/batches-repo.js";
import { type BatchDeps, isProviderRefusal } from "./batch-deps.js";
import { requestKey } from "./batch-responses.js";

/**
 * Gemini takes inline requests up to 20 MB per batch; the envelope (keys, metadata, JSON
 * nesting) is kept well inside that.
 */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** Groups requests, in order, into batches of at most `maxBytes` (one oversized request goes alone). */
export function splitBySize(
  requests: readonly BatchRequestRow[],
  maxBytes = MAX_BATCH_BYTES,
): BatchRequestRow[][] {
  const groups: BatchRequestRow[][] = [];
  let current: BatchRequestRow[] = [];
  let bytes = 0;
  for (const request of requests) {
    if (current.length > 0 && bytes + request.request_bytes > maxBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(request);
    bytes += request.request_bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Display names are ours: they find a batch again after a crash between create and storing its name. */
const newDisplayName = () => `stock-ledger-${randomUUID()}`;

/**
 * Sends every request of `model` waiting for a batch: the batches are stored (state
 * 'creating', with their display names) before anything is sent, then created one by one.
 */
export async function submitWaitingRequests(
  deps: BatchDeps,
  model: string,
  maxBytes = MAX_BATCH_BYTES,
): Promise<void> {
  const assigned = await assignWaitingRequests(deps.sql, model, (waiting) =>
    splitBySize(waiting, maxBytes).map((requests) => ({ displayName: newDisplayName(), requests })),
  );
  for (const { batch } of assigned) {
    await createOnProvider(deps, batch, await batchRequestsOf(deps.sql, batch.display_name));
  }
}

/**
 * Creates the stored batch at the provider and records its name. A refusal (bad request, bad
 * key) ends the batch failed; any other error leaves it 'creating', and the next poll looks it
 * up by display name before sending it again, so it is never created twice.
 */
export async function createOnProvider(
  deps: BatchDeps,
  batch: BatchRow,
  requests: readonly BatchRequestRow[],
): Promise<void> {
  const log = deps.logger.child({ batch: batch.display_name, requests: requests.length });
  try {
    const created = await deps.llm.batches.create({
      model: batch.model,
      displayName: batch.display_name,
      items: requests.map((request) => ({
        key: requestKey(request),
        body: request.request ?? {},
        metadata: { analysisId: request.analysis_id, callType: request.call_type, attempt: request.attempt },
      })),
    });
    await updateBatch(deps.sql, batch.display_name, {
      name: created.name,
      state: created.state,
      submittedAt: created.createTime ?? new Date(),
      nextPollAt: new Date(Date.now() + deps.batchSettings.pollMinMs),
    });
    log.info(
      { name: created.name, analyses: new Set(requests.map((r) => r.analysis_id)).size },
      "batch submitted",
    );
  } catch (error) {
    if (!isProviderRefusal(error)) {
      log.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "batch create failed; will look it up by display name and retry",
      );
      return;
    }
    log.error({ err: error.message }, "batch refused by the provider");
    await updateBatch(deps.sql, batch.display_name, {
      state: "failed",
      endedAt: new Date(),
      error: error.message,
      nextPollAt: new Date(),
    });
  }
}
