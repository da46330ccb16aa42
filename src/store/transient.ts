import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../logger.js";

// Connection-level failures worth waiting out; constraint or syntax errors are not.
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "08000",
  "08003",
  "08006",
  "40001", // serialization_failure
  "40P01", // deadlock_detected
]);

export function isTransientDbError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && TRANSIENT_CODES.has(code);
}

/**
 * Runs a database write, retrying connection faults with backoff: a ledger write that
 * fails because Postgres blinked must not lose a billed call.
 */
export async function withDbRetry<T>(
  what: string,
  work: () => Promise<T>,
  options: { logger: Logger; attempts?: number; baseDelayMs?: number },
): Promise<T> {
  const attempts = options.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isTransientDbError(error) || attempt >= attempts) throw error;
      const delay = Math.min((options.baseDelayMs ?? 250) * 2 ** (attempt - 1), 10_000);
      options.logger.warn({ err: error, attempt, delayMs: delay }, `${what} failed; retrying`);
      await sleep(delay);
    }
  }
}
