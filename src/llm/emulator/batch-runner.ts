import { performance } from "node:perf_hooks";
import { RESPONSES_MIME_TYPE, responseLines } from "./batch-files.js";
import {
  type BatchOutput,
  type BatchRecord,
  BatchStore,
  type InlinedResponse,
  type RpcStatus,
} from "./batches.js";
import { resolvePrompt } from "./billed-prompt.js";
import { type CachedContentStore, cacheNameOf } from "./cached-contents.js";
import type { FaultBook } from "./faults.js";
import type { FileStore } from "./files.js";
import { generateReply } from "./generate.js";
import type { ImplicitCache } from "./implicit-cache.js";
import type { BatchOutcome, FaultKind } from "./protocol.js";
import type { RequestLog } from "./request-log.js";
import { type ErrorReply, googleError, httpFaultReply } from "./rpc-errors.js";
import { NO_TOKENS } from "./usage.js";

/**
 * Running a batch: each request answered by generateReply, the code behind generateContent, so a
 * batched request bills exactly the tokens of the same call made live. A file batch's answers
 * are also written to a generated JSONL file, as Gemini does.
 */

const GRPC_CODES: Record<string, number> = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
};

/** An HTTP error reply as the google.rpc.Status an inline response carries. */
function statusOf(reply: ErrorReply): RpcStatus {
  return { code: GRPC_CODES[reply.body.error.status] ?? 2, message: reply.body.error.message };
}

/**
 * What a fault becomes inside a batch: faults that would be an HTTP error, a hang, a reset or a
 * garbled body make that one request's error; content faults (blocked, bad_schema...) are answers.
 */
function faultError(kind: FaultKind, retryDelaySeconds: number | undefined): ErrorReply | null {
  if (kind === "timeout") return googleError(504, "DEADLINE_EXCEEDED", "Deadline exceeded.");
  if (kind === "reset") return googleError(503, "UNAVAILABLE", "The service is currently unavailable.");
  if (kind === "non_json") return googleError(500, "INTERNAL", "An internal error has occurred.");
  return httpFaultReply(kind, retryDelaySeconds);
}

const text = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);

export interface BatchRunnerDeps {
  log: RequestLog;
  faults: FaultBook;
  store: CachedContentStore;
  files: FileStore;
  thinking: boolean;
  /** The implicit cache generateContent uses; null leaves batch requests out of it. */
  implicit: ImplicitCache | null;
}

/**
 * Answers a batch's requests one by one, in request order, each logged as a generateContent marked
 * with its batch. Identity (analysisId, callType, attempt) comes from the request's metadata, since
 * batched requests carry no headers. Answers never depend on the cache, only the cached counts do.
 */
function answerAll(batch: BatchRecord, deps: BatchRunnerDeps): InlinedResponse[] {
  return batch.requests.map(({ request, metadata }): InlinedResponse => {
    const started = performance.now();
    const model = batch.model.replace(/^(?:models|tunedModels)\//, "");
    const resolved = resolvePrompt(model, request, deps.store, deps.files.lookup);
    const attempt = metadata?.attempt;
    const entry = deps.log.open({
      at: new Date().toISOString(),
      method: "generateContent",
      model,
      analysisId: text(metadata?.analysisId),
      callType: text(metadata?.callType) ?? (resolved.ok ? resolved.digest.stageFromText : null),
      attempt: typeof attempt === "number" && Number.isInteger(attempt) ? attempt : null,
      status: 0,
      fault: null,
      usageMetadata: null,
      cachedContent: request.cachedContent === undefined ? null : cacheNameOf(request.cachedContent),
      batch: batch.name,
      durationMs: 0,
    });
    const end = (status: number, item: { response: unknown } | { error: RpcStatus }): InlinedResponse => {
      entry.status = status;
      entry.durationMs = Math.round(performance.now() - started);
      return { ...(metadata ? { metadata } : {}), ...item };
    };
    if (!resolved.ok) return end(resolved.reply.httpStatus, { error: statusOf(resolved.reply) });
    const rule = deps.faults.match(entry);
    entry.fault = rule?.kind ?? null;
    const error = rule ? faultError(rule.kind, rule.retryDelaySeconds) : null;
    if (error) return end(error.httpStatus, { error: statusOf(error) });
    const { digest, prompt, explicit } = resolved;
    // Marked as each request comes up: the requests answered before it in this batch can serve it.
    const implicit = explicit === null ? deps.implicit : null;
    const cached = explicit ?? implicit?.lookup(model, digest.segments, prompt, implicit.mark()) ?? NO_TOKENS;
    const reply = generateReply(
      {
        model,
        digest,
        stage: entry.callType,
        thinking: deps.thinking,
        prompt,
        cached,
      },
      rule?.kind ?? null,
    );
    entry.usageMetadata = reply.usageMetadata;
    implicit?.remember(model, digest.segments);
    return end(200, { response: JSON.parse(reply.body) });
  });
}

export function batchRunner(deps: BatchRunnerDeps): (batch: BatchRecord) => BatchOutput {
  return (batch) => {
    const responses = answerAll(batch, deps);
    if (batch.inputFile === null) return { responses, responsesFile: null };
    const file = deps.files.generate({
      bytes: responseLines(batch.requests, responses),
      mimeType: RESPONSES_MIME_TYPE,
      displayName: `responses of ${batch.name}`,
      apiRoot: batch.apiRoot,
    });
    return { responses, responsesFile: file.name };
  };
}

export function createBatchStore(
  timing: { delayMs: number; expiryMs: number; outcome?: BatchOutcome },
  runner: BatchRunnerDeps,
): BatchStore {
  return new BatchStore(timing, batchRunner(runner));
}
