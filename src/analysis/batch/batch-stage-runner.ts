import { LlmCallError, type LlmErrorType } from "../../llm/errors.js";
import { batchRequestBody } from "../../llm/gemini-client.js";
import type { QueuedBatchRequest } from "../../store/batches-repo.js";
import type { LlmCallRow } from "../../store/calls-repo.js";
import {
  type CallRunnerDeps,
  reserveAttempt,
  runStageCall,
  type StageCall,
  type StageOutcome,
} from "../call-runner.js";
import { SYSTEM_INSTRUCTION } from "../prompts.js";
import type { CallReservation } from "../spend-guard.js";
import { outputBounds } from "../stages.js";

/** A stage whose request went (or waits to go) into a batch: the analysis waits for its answer. */
export const BATCH_PENDING = Symbol("batch pending");
export type BatchStageOutcome<Output> = StageOutcome<Output> | typeof BATCH_PENDING;

/** A daily-budget hold of a batch request lasts until its batch is ingested, or Gemini's 48 h expiry and a margin. */
const BATCH_HOLD_MS = 50 * 60 * 60 * 1000;

/**
 * Runs a stage in batch mode for one step of an analysis. A stage not yet asked is queued for
 * the next batch (its worst case reserved under any cap, as a live call's is); a stage whose
 * batch request failed fails as any other, or is asked again synchronously at the standard
 * price with `--batch-fallback sync`.
 */
export class BatchStageRunner {
  readonly queued: QueuedBatchRequest[] = [];
  readonly #holds: CallReservation[] = [];

  constructor(private readonly fallbackSync: boolean) {}

  async run<Output>(
    call: StageCall<Output>,
    deps: CallRunnerDeps,
    last: LlmCallRow | null,
  ): Promise<BatchStageOutcome<Output>> {
    if (last) {
      // A synchronous fallback already began (and was cut off): carry on with it.
      if (last.service_tier === "standard" || this.fallbackSync) return runStageCall(call, deps);
      const error = new LlmCallError(
        (last.error_type ?? "server_error") as LlmErrorType,
        last.error_message ?? "the batch request failed",
      );
      return { ok: false, error, attempts: 0 };
    }
    const { tracker, stage, prompt } = call;
    const attempt = call.previousAttempts + 1;
    let bounds = outputBounds(stage, tracker.model);
    let reserved: CallReservation | null = null;
    if (call.guard?.active) {
      const held = await reserveAttempt(
        call,
        deps,
        { attempt, counted: {} },
        { dailyTtlMs: BATCH_HOLD_MS, keepDaily: true, noWait: true },
      );
      if (typeof held === "string") {
        return { ok: false, error: new LlmCallError("budget_exceeded", held), attempts: 0 };
      }
      reserved = held;
      bounds = held.bounds;
      this.#holds.push(held);
    }
    const request = batchRequestBody({
      model: tracker.model,
      systemInstruction: SYSTEM_INSTRUCTION,
      prompt,
      content: call.content,
      json: stage.json,
      bounds,
      analysisId: tracker.analysisId,
      callType: stage.callType,
      attempt,
    });
    this.queued.push({
      analysis_id: tracker.analysisId,
      call_type: stage.callType,
      attempt,
      model: tracker.model,
      request,
      request_bytes: Buffer.byteLength(JSON.stringify(request)),
      input_chars: SYSTEM_INSTRUCTION.length + prompt.length,
      input_hash: call.inputHash,
      reserved_tokens: reserved?.worst.tokens ?? null,
    });
    return BATCH_PENDING;
  }

  /**
   * Ends this step's holds on the analysis' own limits (the queued requests' daily-budget
   * reservations stay until their batch is ingested). All of a phase's requests are queued in
   * one step, so each was reserved beside the others; the next phase sees their actual spend.
   */
  async releaseHolds(): Promise<void> {
    await Promise.all(this.#holds.splice(0).map((hold) => hold.release()));
  }
}
