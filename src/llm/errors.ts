import {
  GoogleGenerativeAIAbortError,
  GoogleGenerativeAIFetchError,
  GoogleGenerativeAIRequestInputError,
} from "@google/generative-ai";

export const LLM_ERROR_TYPES = [
  "rate_limited",
  "server_error",
  "timeout",
  "invalid_request",
  "auth",
  "blocked",
  "malformed_output",
  "network",
  "interrupted",
  // A batch request that never got an answer: its batch expired, or was cancelled.
  "batch_expired",
  "batch_cancelled",
  // Not from the provider: the analysis reached its token or cost limit, so the call was not made.
  "budget_exceeded",
] as const;

export type LlmErrorType = (typeof LLM_ERROR_TYPES)[number];

const RETRYABLE: ReadonlySet<LlmErrorType> = new Set([
  "rate_limited",
  "server_error",
  "timeout",
  "network",
  "malformed_output",
]);

export interface LlmCallErrorDetails {
  /** How long the provider asked us to wait (RetryInfo), if it said. */
  retryAfterMs?: number | undefined;
  /** Usage of a response that was billed but unusable (blocked, malformed). */
  usageMetadata?: Record<string, unknown> | undefined;
  /** A response came back (so tokens may have been billed even without usage figures). */
  responseReceived?: boolean;
  outputChars?: number;
}

/** A failed LLM attempt with a type the ledger stores and the retry policy branches on. */
export class LlmCallError extends Error {
  override name = "LlmCallError";
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly usageMetadata: Record<string, unknown> | undefined;
  readonly responseReceived: boolean;
  readonly outputChars: number;

  constructor(
    readonly type: LlmErrorType,
    message: string,
    details: LlmCallErrorDetails = {},
  ) {
    super(message);
    this.retryable = RETRYABLE.has(type);
    this.retryAfterMs = details.retryAfterMs;
    this.usageMetadata = details.usageMetadata;
    this.responseReceived = details.responseReceived ?? details.usageMetadata !== undefined;
    this.outputChars = details.outputChars ?? 0;
  }
}

/** Reads google.rpc.RetryInfo's `retryDelay` ("17s", "0.5s") from an error's details. */
export function retryDelayFromDetails(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const detail of details) {
    const delay = (detail as { retryDelay?: unknown } | null)?.retryDelay;
    if (typeof delay !== "string") continue;
    const match = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim());
    if (match?.[1]) return Math.round(Number(match[1]) * 1000);
  }
  return undefined;
}

/** An HTTP error from either SDK bundle (the server bundle has its own, unexported class copies). */
type HttpError = Pick<GoogleGenerativeAIFetchError, "status" | "message" | "errorDetails">;

function asHttpError(error: unknown): HttpError | null {
  if (error instanceof GoogleGenerativeAIFetchError) return error;
  const candidate = error as { status?: unknown; constructor?: { name?: string } } | null;
  return typeof candidate?.status === "number" &&
    candidate.constructor?.name === "GoogleGenerativeAIFetchError"
    ? (error as HttpError)
    : null;
}

/** The provider's own message without the SDK's "Error fetching from <url>:" preamble. */
function providerMessage(error: HttpError): string {
  const text = error.message.replace(/^\[GoogleGenerativeAI Error\]:\s*/, "");
  const bracket = text.indexOf("] ");
  const message = bracket >= 0 ? text.slice(bracket + 2) : text;
  // Details are stored separately (RetryInfo); keep the message to the human part.
  return message.replace(/\s*\[\{.*\}\]\s*$/, "").trim() || `HTTP ${error.status}`;
}

function fromHttpStatus(error: HttpError): LlmCallError {
  const status = error.status ?? 0;
  return llmErrorForStatus(status, `HTTP ${status}: ${providerMessage(error)}`, error.errorDetails);
}

/** The ledger's error type for an HTTP status (and the error's google.rpc details). */
export function llmErrorForStatus(
  status: number,
  message: string,
  errorDetails?: readonly ({ reason?: unknown } & Record<string, unknown>)[] | undefined,
): LlmCallError {
  if (status === 429) {
    return new LlmCallError("rate_limited", message, {
      retryAfterMs: retryDelayFromDetails(errorDetails),
    });
  }
  // Gemini answers a bad key with 400 INVALID_ARGUMENT whose ErrorInfo says API_KEY_INVALID.
  const badKey = errorDetails?.some((detail) => detail?.reason === "API_KEY_INVALID") ?? false;
  if (status === 401 || status === 403 || badKey) return new LlmCallError("auth", message);
  if (status === 408) return new LlmCallError("timeout", message);
  if (status >= 500) return new LlmCallError("server_error", message);
  return new LlmCallError("invalid_request", message);
}

/**
 * Gemini's refusal of a prompt naming an uploaded file it no longer holds (deleted, expired):
 * 403 "You do not have permission to access the File … or it may not exist", or a 400/404
 * naming the file. Read from the SDK's error before it is mapped (403 would read as `auth`).
 */
export function isMissingFileError(error: unknown): boolean {
  const http = asHttpError(error);
  if (!http || ![400, 403, 404].includes(http.status ?? 0)) return false;
  return /\bfiles?\b/i.test(providerMessage(http));
}

/**
 * Maps whatever the SDK or fetch threw into a typed LlmCallError. `timedOut` tells our own
 * deadline apart from a caller's cancellation (shutdown), since both surface as aborts.
 */
export function mapSdkError(error: unknown, context: { timedOut: boolean; timeoutMs: number }): LlmCallError {
  if (error instanceof LlmCallError) return error;
  const http = asHttpError(error);
  if (http) return fromHttpStatus(http);
  const name = (error as { name?: string } | null)?.name;
  if (error instanceof GoogleGenerativeAIAbortError || name === "AbortError" || name === "TimeoutError") {
    return context.timedOut
      ? new LlmCallError("timeout", `no response within ${context.timeoutMs} ms`)
      : new LlmCallError("interrupted", "call cancelled by shutdown");
  }
  if (error instanceof GoogleGenerativeAIRequestInputError) {
    return new LlmCallError("invalid_request", String((error as Error).message));
  }
  if (error instanceof SyntaxError) {
    // A 200 whose body is not JSON: a response came back, so it may have been billed.
    return new LlmCallError("malformed_output", `response body is not JSON: ${error.message}`, {
      responseReceived: true,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  const detail = cause?.code ?? cause?.message;
  return new LlmCallError(
    "network",
    `${message.replace(/^\[GoogleGenerativeAI Error\]:\s*/, "")}${detail ? ` (${detail})` : ""}`,
  );
}

/** google.rpc.Code → the HTTP status Google maps it to (an inline batch response carries the code). */
const HTTP_OF_GRPC: Record<number, number> = {
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  13: 500,
  14: 503,
  16: 401,
};

/** A batch's per-request error (google.rpc.Status) as the ledger's typed error. */
export function llmErrorForRpcStatus(status: { code?: number; message?: string } | undefined): LlmCallError {
  const code = status?.code ?? 2;
  const http = HTTP_OF_GRPC[code] ?? 500;
  return llmErrorForStatus(http, `batch request failed (code ${code}): ${status?.message ?? "no message"}`);
}
