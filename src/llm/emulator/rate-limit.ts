/** A rolling request window (one minute by default), like Gemini's per-model RPM quota. */
export class RpmLimiter {
  readonly #admitted: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
    private readonly windowMs = 60_000,
  ) {}

  /** Admits and counts the request, or says how many seconds until a slot frees up. */
  admit(): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.now();
    while (this.#admitted.length > 0 && now - (this.#admitted[0] ?? now) >= this.windowMs)
      this.#admitted.shift();
    if (this.#admitted.length < this.limit) {
      this.#admitted.push(now);
      return { ok: true };
    }
    // Rejected requests are not counted: a client that backs off as told gets through.
    const oldest = this.#admitted[0] ?? now;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000)) };
  }
}
