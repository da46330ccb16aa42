/** Why the live feed gave no bars; `kind` decides retry (rate_limited, unavailable) or give up. */
export type LivePriceFailure = "rate_limited" | "timeout" | "not_found" | "unavailable" | "invalid_response";

export class LivePriceError extends Error {
  override name = "LivePriceError";
  readonly kind: LivePriceFailure;
  /** HTTP status when the feed answered with one. */
  readonly status: number | null;
  /** The server's Retry-After, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | null;

  constructor(
    kind: LivePriceFailure,
    message: string,
    opts: { status?: number | null; retryAfterMs?: number | null; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.kind = kind;
    this.status = opts.status ?? null;
    this.retryAfterMs = opts.retryAfterMs ?? null;
  }

  /** Worth another attempt after a pause: Yahoo's 429s and its 5xx hiccups. */
  get retryable(): boolean {
    return this.kind === "rate_limited" || (this.kind === "unavailable" && (this.status ?? 0) >= 500);
  }
}

/** Retry-After as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: Date = new Date()): number | null {
  if (header === null || header.trim() === "") return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now.getTime());
}
