import type { Logger } from "../logger.js";
import { insertCalls, type LlmCallRow } from "./calls-repo.js";
import type { Sql } from "./database.js";
import { withDbRetry } from "./transient.js";

interface Pending {
  row: LlmCallRow;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const keyOf = (row: LlmCallRow) => `${row.analysis_id}\u0000${row.call_type}\u0000${row.attempt}`;

/**
 * Group commit for `llm_calls`: rows written in the same turn of the event loop (and while
 * the previous batch is in flight) go to Postgres as one multi-row INSERT. Each `write`
 * resolves only once its row is committed, so batching gives up no durability: a stage never
 * moves on, and an analysis never finalizes, before its calls are on disk.
 */
export class CallWriter {
  #queue: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #scheduled = false;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
    private readonly maxBatch = 1000,
  ) {}

  write(row: LlmCallRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ row, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves when everything written so far is committed (or has failed). */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#flushing || this.#scheduled) {
      await (this.#flushing ?? new Promise((r) => setImmediate(r)));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = null;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    // One statement may not touch a key twice: a call's closing row supersedes its start marker.
    const latest = new Map<string, LlmCallRow>();
    for (const { row } of batch) latest.set(keyOf(row), row);
    try {
      await withDbRetry("writing llm_calls", () => insertCalls(this.sql, [...latest.values()]), {
        logger: this.logger,
      });
      for (const pending of batch) pending.resolve();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }
}
