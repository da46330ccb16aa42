import type { LlmCallError } from "./errors.js";

export interface RetryPolicy {
  maxAttempts: number;
  /** First backoff for 5xx, timeouts, network errors and unusable output; doubles each attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A 429 without RetryInfo waits this long before its first retry. */
  rateLimitDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  rateLimitDelayMs: 5_000,
};

/**
 * How long to wait before the next attempt, or null to stop. A 429 waits what the
 * provider's RetryInfo says (it knows its quota window); other retryable faults back off
 * exponentially with full jitter so many workers do not retry in step.
 */
export function nextRetryDelayMs(
  error: LlmCallError,
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number | null {
  if (!error.retryable || attempt >= policy.maxAttempts) return null;
  if (error.type === "rate_limited") {
    return Math.min(error.retryAfterMs ?? policy.rateLimitDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
  }
  const ceiling = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
