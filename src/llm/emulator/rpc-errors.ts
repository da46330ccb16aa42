import type { FaultKind, GoogleErrorBody } from "./protocol.js";

/**
 * Error bodies in Google's shape ({"error":{code,message,status,details}}). The SDK turns them
 * into GoogleGenerativeAIFetchError(status, statusText, errorDetails = error.details).
 */

export interface ErrorReply {
  httpStatus: number;
  body: GoogleErrorBody;
}

export function googleError(
  httpStatus: number,
  status: string,
  message: string,
  details?: Record<string, unknown>[],
): ErrorReply {
  return {
    httpStatus,
    body: { error: { code: httpStatus, message, status, ...(details ? { details } : {}) } },
  };
}

/** google.protobuf.Duration's JSON form: "1s", "0.5s". */
export function durationText(seconds: number): string {
  return `${Number(Math.max(0, seconds).toFixed(3))}s`;
}

export function rateLimited(retryDelaySeconds: number, message?: string): ErrorReply {
  return googleError(
    429,
    "RESOURCE_EXHAUSTED",
    message ?? "You exceeded your current quota, please check your plan and billing details.",
    [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: durationText(retryDelaySeconds) }],
  );
}

/** What Gemini answers for a file it does not hold (never uploaded, deleted or expired), on any route. */
export function fileNotFound(id: string): ErrorReply {
  return googleError(
    403,
    "PERMISSION_DENIED",
    `You do not have permission to access the File ${id} or it may not exist.`,
  );
}

/** The reply for a fault that is an HTTP error status. */
export function httpFaultReply(kind: FaultKind, retryDelaySeconds = 1): ErrorReply | null {
  switch (kind) {
    case "rate_limited":
      return rateLimited(retryDelaySeconds);
    case "server_error":
      return googleError(
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
      );
    case "overloaded":
      return googleError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.");
    case "invalid_request":
      return googleError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.");
    case "auth":
      // What Gemini answers for a bad key: 400, with the reason in its ErrorInfo.
      return googleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
          domain: "googleapis.com",
          metadata: { service: "generativelanguage.googleapis.com" },
        },
      ]);
    default:
      return null;
  }
}
