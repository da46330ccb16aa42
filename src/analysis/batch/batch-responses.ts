import { batchSavingPico } from "../../ledger/batch-saving.js";
import type { CallRecord } from "../../ledger/call-record.js";
import { priceCall } from "../../ledger/pricing.js";
import { normalizeUsage } from "../../ledger/usage.js";
import { LlmCallError, llmErrorForRpcStatus } from "../../llm/errors.js";
import type { BatchResponseItem } from "../../llm/gemini-batches.js";
import { answerText, rejectBlocked } from "../../llm/gemini-response.js";
import type { BatchRequestRow, StoredBatchState } from "../../store/batches-repo.js";
import { callRowFromRecord, type LlmCallRow } from "../../store/calls-repo.js";
import { OutputValidationError } from "../output-schemas.js";
import { ANALYSIS_STAGES, FINAL_DECISION_STAGE, type StageDefinition } from "../stages.js";

/**
 * A finished batch's responses as `llm_calls` rows: one per request, with the usage its own
 * inline response reported, priced at the batch rates in force when the batch was submitted.
 */

const STAGES = new Map<string, StageDefinition<unknown>>(
  [...ANALYSIS_STAGES, FINAL_DECISION_STAGE].map((stage) => [stage.callType, stage]),
);

/** The key a request travels under in its batch, and comes back with. */
export const requestKey = (request: Pick<BatchRequestRow, "analysis_id" | "call_type" | "attempt">): string =>
  `${request.analysis_id}/${request.call_type}/${request.attempt}`;

export interface FinishedBatch {
  state: StoredBatchState;
  submittedAt: Date;
  endedAt: Date;
  /** The batch-level error of a failed batch. */
  error: { code?: number; message?: string } | null;
  responses: BatchResponseItem[] | null;
}

interface Settled {
  failure: LlmCallError | null;
  usageMetadata: Record<string, unknown> | undefined;
  received: boolean;
  text: string | null;
}

/** Why a request got no answer when its batch did not succeed. */
function batchFailure(batch: FinishedBatch): LlmCallError {
  if (batch.state === "expired")
    return new LlmCallError("batch_expired", "the batch expired before this request ran");
  if (batch.state === "cancelled") return new LlmCallError("batch_cancelled", "the batch was cancelled");
  const error = llmErrorForRpcStatus(batch.error ?? { message: "the batch failed" });
  return new LlmCallError(error.type, `batch failed: ${batch.error?.message ?? "no message"}`);
}

/** One response read as a live call's would be: blocked, malformed and off-schema answers are billed failures. */
function settle(
  stage: StageDefinition<unknown> | undefined,
  item: BatchResponseItem | undefined,
  batch: FinishedBatch,
): Settled {
  if (batch.state !== "succeeded")
    return { failure: batchFailure(batch), usageMetadata: undefined, received: false, text: null };
  if (!item) {
    return {
      failure: new LlmCallError("malformed_output", "the batch answered without this request"),
      usageMetadata: undefined,
      received: false,
      text: null,
    };
  }
  if (item.error || !item.response) {
    return {
      failure: llmErrorForRpcStatus(item.error),
      usageMetadata: undefined,
      received: false,
      text: null,
    };
  }
  const response = item.response;
  const usageMetadata = response.usageMetadata;
  try {
    rejectBlocked(response);
    const text = answerText(response);
    if (!stage) throw new LlmCallError("malformed_output", "unknown stage");
    stage.parse(text);
    return { failure: null, usageMetadata, received: true, text };
  } catch (error) {
    const failure =
      error instanceof LlmCallError
        ? error
        : new LlmCallError(
            "malformed_output",
            error instanceof OutputValidationError || error instanceof Error ? error.message : String(error),
          );
    return {
      failure,
      usageMetadata: failure.usageMetadata ?? usageMetadata,
      received: true,
      text: answerText(response),
    };
  }
}

/** The call rows of a finished batch, one per request. */
export function callRowsOf(batch: FinishedBatch, requests: readonly BatchRequestRow[]): LlmCallRow[] {
  const byKey = new Map<string, BatchResponseItem>();
  for (const [index, item] of (batch.responses ?? []).entries()) {
    // Keyed by metadata; by position when a server drops the metadata (responses keep request order).
    const key = item.key ?? (requests[index] ? requestKey(requests[index]) : null);
    if (key) byKey.set(key, item);
  }
  return requests.map((request) => {
    const settled = settle(STAGES.get(request.call_type), byKey.get(requestKey(request)), batch);
    const outputChars = settled.text?.length ?? 0;
    const usage = normalizeUsage(settled.usageMetadata, {
      received: settled.received,
      inputChars: request.input_chars,
      outputChars,
    });
    const record: CallRecord = {
      callType: request.call_type,
      attempt: request.attempt,
      model: request.model,
      status: settled.failure ? "failure" : "success",
      usage,
      cost: priceCall(request.model, usage, batch.submittedAt, undefined, "batch"),
      errorType: settled.failure?.type ?? null,
      errorMessage: settled.failure?.message ?? null,
      startedAt: batch.submittedAt,
      durationMs: Math.max(0, batch.endedAt.getTime() - batch.submittedAt.getTime()),
      inputChars: request.input_chars,
      outputChars,
      rawUsage: settled.usageMetadata ?? null,
      inputHash: request.input_hash,
      reservedTokens: request.reserved_tokens,
      serviceTier: "batch",
      batchSavedPico: batchSavingPico(request.model, usage, batch.submittedAt),
    };
    return callRowFromRecord(request.analysis_id, record, settled.failure ? null : settled.text);
  });
}
