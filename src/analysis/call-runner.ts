import { setTimeout as sleep } from "node:timers/promises";
import type { CallRecord } from "../ledger/call-record.js";
import { priceCall } from "../ledger/pricing.js";
import type { TokenTracker } from "../ledger/token-tracker.js";
import { CHARS_PER_TOKEN, normalizeUsage } from "../ledger/usage.js";
import { LlmCallError } from "../llm/errors.js";
import type { ContextCache, LlmClient, PromptContent } from "../llm/gemini-client.js";
import { inlineImageTokens } from "../llm/image-tokens.js";
import type { RateLimiter } from "../llm/rate-limiter.js";
import { nextRetryDelayMs, type RetryPolicy } from "../llm/retry-policy.js";
import type { Logger } from "../logger.js";
import { recordCallMetrics } from "../metrics/worker-metrics.js";
import type { CallWriter } from "../store/call-writer.js";
import { callRowFromRecord } from "../store/calls-repo.js";
import type { Sql } from "../store/database.js";
import { OutputValidationError } from "./output-schemas.js";
import { SYSTEM_INSTRUCTION } from "./prompts.js";
import type { CallReservation, ReserveOptions, SpendGuard } from "./spend-guard.js";
import { outputBounds, type StageDefinition } from "./stages.js";

export interface CallRunnerDeps {
  sql: Sql;
  /** Group-commits call rows; a write resolves once its row is durable. */
  callWriter: CallWriter;
  /** The LLM key's quota shared by all workers; null when none is configured. */
  rateLimiter?: RateLimiter | null;
  llm: LlmClient;
  retryPolicy: RetryPolicy;
  logger: Logger;
}

export interface StageCall<Output> {
  tracker: TokenTracker;
  stage: StageDefinition<Output>;
  prompt: string;
  /** Attempts already stored for this stage by earlier runs; numbering continues after them. */
  previousAttempts: number;
  /** Send only `suffix`; the system instruction and the rest of `prompt` are in this cache. */
  contextCache?: ContextCache | null;
  /** The prompt as prefix, images and suffix (`prompt` is its text, for hashing and estimates). */
  content?: PromptContent;
  /** Fingerprint of this exact input, stored so later analyses can reuse the answer. */
  inputHash: string | null;
  /** Reserves each attempt's worst case against the analysis' limits and the daily budget. */
  guard?: SpendGuard | null | undefined;
  signal?: AbortSignal | undefined;
}

export type StageOutcome<Output> =
  | { ok: true; output: Output; text: string; attempts: number }
  | { ok: false; error: LlmCallError; attempts: number };

/** A thrown `LlmCallError`, or the stage's parse failure turned into a billed `malformed_output`. */
function asCallError(
  error: unknown,
  billed?: { usageMetadata: Record<string, unknown> | undefined; outputChars: number },
) {
  if (error instanceof OutputValidationError) {
    return new LlmCallError("malformed_output", error.message, {
      usageMetadata: billed?.usageMetadata,
      responseReceived: true,
      outputChars: billed?.outputChars ?? 0,
    });
  }
  if (error instanceof LlmCallError) return error;
  return new LlmCallError("network", error instanceof Error ? error.message : String(error));
}

/**
 * The prompt's tokens before it is sent: its text counted by the provider (countTokens is free)
 * and each image by Gemini's tile rule. If counting fails, the text's UTF-8 bytes stand in: no
 * tokenizer makes more tokens than bytes, so the reservation still bounds the call.
 */
async function countInputTokens(
  deps: CallRunnerDeps,
  input: { model: string; prompt: string; content: PromptContent | undefined },
  signal: AbortSignal | undefined,
): Promise<number> {
  const images = (input.content?.images ?? []).reduce((sum, image) => sum + inlineImageTokens(image.data), 0);
  try {
    const text = await deps.llm.countTokens({
      model: input.model,
      systemInstruction: SYSTEM_INSTRUCTION,
      prompt: input.prompt,
      ...(signal ? { signal } : {}),
    });
    return text + images;
  } catch (error) {
    deps.logger.warn(
      { err: error instanceof Error ? error.message : String(error) },
      "countTokens failed; reserving the prompt's bytes as its tokens",
    );
    return Buffer.byteLength(SYSTEM_INSTRUCTION) + Buffer.byteLength(input.prompt) + images;
  }
}

/** A stage's prompt tokens, once counted: every attempt reserves against the same count. */
export interface CountedPrompt {
  tokens?: number;
}

/**
 * Reserves one attempt's worst case under the call's guard (which must be active): the prompt
 * as counted, the stage's bounds. The reservation, or why the attempt must not be sent.
 */
export async function reserveAttempt(
  call: StageCall<unknown>,
  deps: CallRunnerDeps,
  at: { attempt: number; counted: CountedPrompt },
  options?: ReserveOptions,
): Promise<CallReservation | string> {
  const { tracker, stage, prompt } = call;
  at.counted.tokens ??= await countInputTokens(
    deps,
    { model: tracker.model, prompt, content: call.content },
    call.signal,
  );
  return (call.guard as SpendGuard).reserve(
    { callType: stage.callType, attempt: at.attempt },
    {
      model: tracker.model,
      inputTokens: at.counted.tokens,
      bounds: outputBounds(stage, tracker.model),
      minOutputTokens: stage.bounds.minOutputTokens,
    },
    call.signal,
    options,
  );
}

/** What a call's row says until the call ends: left as is, it marks a call cut off by a crash. */
const INTERRUPTED = new LlmCallError("interrupted", "the worker stopped before this call ended");

/**
 * Runs one stage with retries. Every attempt, failed or not, is recorded in the tracker and
 * written to `llm_calls` as it ends, with whatever tokens the provider billed for it.
 */
export async function runStageCall<Output>(
  call: StageCall<Output>,
  deps: CallRunnerDeps,
): Promise<StageOutcome<Output>> {
  const { tracker, stage, prompt } = call;
  // Built on first use: most calls log nothing, and a pino child serialises its bindings at once.
  let stageLogger: Logger | undefined;
  const log = () =>
    (stageLogger ??= deps.logger.child({ analysisId: tracker.analysisId, callType: stage.callType }));
  const inputChars = SYSTEM_INSTRUCTION.length + prompt.length;
  const bounds = outputBounds(stage, tracker.model);
  const counted: CountedPrompt = {}; // counted once, for every attempt's reservation
  for (let tries = 1; ; tries++) {
    const attempt = call.previousAttempts + tries;
    let reservation: CallReservation | null = null;
    if (call.guard?.active) {
      const held = await reserveAttempt(call, deps, { attempt, counted });
      // Not sent: nothing was billed, so there is no row for it.
      if (typeof held === "string") {
        return { ok: false, error: new LlmCallError("budget_exceeded", held), attempts: tries - 1 };
      }
      reservation = held;
    }
    // Waiting for the shared quota is not part of the call's own duration.
    // Dated again when the request leaves (onSend below); one aborted before that is left to expire.
    const admission = await deps.rateLimiter?.acquire(Math.ceil(inputChars / CHARS_PER_TOKEN), call.signal);
    const startedAt = new Date();
    let t0 = performance.now();
    const closeRecord = (fields: {
      failure: LlmCallError | undefined;
      usageMetadata: Record<string, unknown> | undefined;
      received: boolean;
      outputChars: number;
    }): CallRecord => {
      const usage = normalizeUsage(fields.usageMetadata, {
        received: fields.received,
        inputChars,
        outputChars: fields.outputChars,
      });
      const { failure } = fields;
      return {
        callType: stage.callType,
        attempt,
        model: tracker.model,
        status: !failure ? "success" : failure.type === "interrupted" ? "interrupted" : "failure",
        usage,
        // Priced by the rate in force when the call started.
        cost: priceCall(tracker.model, usage, startedAt),
        errorType: failure?.type ?? null,
        errorMessage: failure?.message ?? null,
        startedAt,
        durationMs: Math.round(performance.now() - t0),
        inputChars,
        outputChars: fields.outputChars,
        rawUsage: fields.usageMetadata ?? null,
        inputHash: call.inputHash,
        reservedTokens: reservation?.worst.tokens ?? null,
      };
    };
    let outcome: StageOutcome<Output>;
    let record: CallRecord;
    let text: string | null = null;
    // The start marker is committed before the request leaves, so a killed worker always leaves
    // evidence of a call that may have been billed, and the next run numbers its attempts after
    // it: a request the provider saw never shares its attempt number with a later one. The
    // call's closing row replaces it.
    const marker = closeRecord({
      failure: INTERRUPTED,
      usageMetadata: undefined,
      received: false,
      outputChars: 0,
    });
    marker.durationMs = 0;
    try {
      await deps.callWriter.write(callRowFromRecord(tracker.analysisId, marker, null));
    } catch (error) {
      await reservation?.release();
      throw error;
    }
    t0 = performance.now(); // the call's duration is the provider's, not the marker's commit
    try {
      const result = await deps.llm.generate({
        model: tracker.model,
        systemInstruction: SYSTEM_INSTRUCTION,
        prompt,
        json: stage.json,
        bounds: reservation?.bounds ?? bounds,
        analysisId: tracker.analysisId,
        callType: stage.callType,
        attempt,
        signal: call.signal,
        content: call.content,
        contextCache: call.contextCache ?? undefined,
        onSend: admission?.markSent,
      });
      text = result.text;
      const billed = { usageMetadata: result.usageMetadata, outputChars: text.length };
      try {
        const output = stage.parse(text);
        outcome = { ok: true, output, text, attempts: tries };
        record = closeRecord({ ...billed, failure: undefined, received: true });
      } catch (error) {
        const failure = asCallError(error, billed);
        outcome = { ok: false, error: failure, attempts: tries };
        record = closeRecord({ ...billed, failure, received: true });
      }
    } catch (thrown) {
      const error = asCallError(thrown);
      outcome = { ok: false, error, attempts: tries };
      record = closeRecord({
        failure: error,
        usageMetadata: error.usageMetadata,
        received: error.responseReceived,
        outputChars: error.outputChars,
      });
    }
    if (record.usage.totalMismatch) {
      log().warn(
        { attempt, rawUsage: record.rawUsage },
        "provider totalTokenCount differs from input + output",
      );
    }
    if (record.cost.costPico === null)
      log().warn({ model: tracker.model }, "no price known for model; cost left null");
    if (reservation && record.usage.totalTokens > reservation.worst.tokens) {
      log().warn(
        { attempt, reservedTokens: reservation.worst.tokens, totalTokens: record.usage.totalTokens, bounds },
        "provider billed past the bounds the call was sent with; a cap may be overshot by the difference",
      );
    }
    tracker.recordCall(record);
    recordCallMetrics(record);
    const row = callRowFromRecord(tracker.analysisId, record, outcome.ok ? text : null);
    try {
      await deps.callWriter.write(row);
    } finally {
      // Released once the actual spend is on disk (or, if it never gets there, the room is
      // given back to this run, whose job fails and is retried from the stored rows).
      await reservation?.release();
    }
    if (outcome.ok) return outcome;
    const delay = nextRetryDelayMs(outcome.error, tries, deps.retryPolicy);
    if (outcome.error.type === "rate_limited" && delay !== null) {
      // The provider's quota is shared: make every worker wait, not just this one.
      await deps.rateLimiter?.pause(delay).catch(() => undefined);
    }
    log().warn(
      { attempt, errorType: outcome.error.type, retryInMs: delay, err: outcome.error.message },
      delay === null ? "stage call failed; giving up" : "stage call failed; retrying",
    );
    if (delay === null || call.signal?.aborted) return outcome;
    await sleep(delay, undefined, { signal: call.signal }).catch(() => undefined);
    if (call.signal?.aborted) return outcome;
  }
}
