import type { RequestLogEntry } from "./protocol.js";

export const DEFAULT_LOG_LIMIT = 10_000;

/**
 * Every model request the emulator saw, in arrival order. Entries are added when a request
 * arrives and completed when it ends, so a hanging (timeout) request is visible while it hangs.
 */
export class RequestLog {
  #entries: RequestLogEntry[] = [];
  #nextSeq = 1;

  constructor(private readonly limit = DEFAULT_LOG_LIMIT) {}

  /** Returns the live entry; the server fills in status, fault and usage as the request ends. */
  open(fields: Omit<RequestLogEntry, "seq">): RequestLogEntry {
    const entry: RequestLogEntry = { seq: this.#nextSeq++, ...fields };
    this.#entries.push(entry);
    // Bounded so a long-running `stock-ledger emulator` does not grow without end.
    if (this.#entries.length > this.limit) this.#entries.splice(0, this.#entries.length - this.limit);
    return entry;
  }

  /** Copies, so callers cannot mutate the log (usageMetadata is shared: it is never mutated). */
  list(): RequestLogEntry[] {
    return this.#entries.map((entry) => ({ ...entry }));
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Sequence numbers keep counting, so entries stay ordered across clears. */
  clear(): number {
    const cleared = this.#entries.length;
    this.#entries = [];
    return cleared;
  }
}
