import type { Logger } from "../logger.js";
import { insertCalls, type LlmCallRow } from "./calls-repo.js";
import type { Sql } from "./database.js";
import { StatementBatcher, type WaitObserver } from "./statement-batcher.js";
import { withDbRetry } from "./transient.js";

const keyOf = (row: LlmCallRow) => `${row.analysis_id}\u0000${row.call_type}\u0000${row.attempt}`;

/**
 * Group commit for `llm_calls`: rows written in the same turn of the event loop (and while
 * the previous batch is in flight) go to Postgres as one multi-row INSERT. Each `write`
 * resolves only once its row is committed, so batching gives up no durability: a stage never
 * moves on, and an analysis never finalizes, before its calls are on disk.
 */
export class CallWriter {
  readonly #batches: StatementBatcher<LlmCallRow, void>;

  constructor(sql: Sql, logger: Logger, options: { maxBatch?: number; observeWait?: WaitObserver } = {}) {
    const { maxBatch = 1000, observeWait } = options;
    this.#batches = new StatementBatcher<LlmCallRow, void>(
      async (rows) => {
        await withDbRetry("writing llm_calls", () => insertCalls(sql, rows), { logger });
        return rows.map(() => undefined);
      },
      // One statement may not touch a key twice: a call's closing row supersedes its start marker.
      {
        maxBatch,
        keyOf,
        onDuplicateKey: "replace",
        observeWait: observeWait && ((seconds) => observeWait("call", seconds)),
      },
    );
  }

  write(row: LlmCallRow): Promise<void> {
    return this.#batches.submit(row);
  }

  /** Resolves when everything written so far is committed (or has failed). */
  drain(): Promise<void> {
    return this.#batches.drain();
  }
}
