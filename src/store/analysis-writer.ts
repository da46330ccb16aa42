import type { Logger } from "../logger.js";
import {
  type AnalysisOutcome,
  type AnalysisRow,
  claimAnalysisRuns,
  finalizeAnalyses,
  type RunClaimRequest,
} from "./analyses-repo.js";
import type { Sql } from "./database.js";
import { StatementBatcher, type WaitObserver } from "./statement-batcher.js";
import { withDbRetry } from "./transient.js";

/**
 * Group commit for the two writes every run makes to `stock_analyses`: its claim as it starts
 * and its finalize as it ends. The runs of one worker start and end many at a time, so each
 * kind goes to Postgres as one statement per batch, as call rows do (CallWriter); every caller
 * still gets its own row, and only after the statement has committed. Two writes for one
 * analysis never share a statement.
 */
export class AnalysisWriter {
  readonly #claims: StatementBatcher<RunClaimRequest, AnalysisRow | null>;
  readonly #finalizes: StatementBatcher<AnalysisOutcome, AnalysisRow | null>;

  constructor(sql: Sql, logger: Logger, options: { maxBatch?: number; observeWait?: WaitObserver } = {}) {
    const { maxBatch = 500, observeWait } = options;
    this.#claims = new StatementBatcher(
      (requests) => withDbRetry("claiming analyses", () => claimAnalysisRuns(sql, requests), { logger }),
      {
        maxBatch,
        keyOf: (request) => request.id,
        onDuplicateKey: "defer",
        observeWait: observeWait && ((seconds) => observeWait("claim", seconds)),
      },
    );
    this.#finalizes = new StatementBatcher(
      (outcomes) => withDbRetry("finalizing analyses", () => finalizeAnalyses(sql, outcomes), { logger }),
      {
        maxBatch,
        keyOf: (outcome) => outcome.id,
        onDuplicateKey: "defer",
        observeWait: observeWait && ((seconds) => observeWait("finalize", seconds)),
      },
    );
  }

  /** The claimed row, or null when the analysis is busy, ended or unknown. */
  claim(request: RunClaimRequest): Promise<AnalysisRow | null> {
    return this.#claims.submit(request);
  }

  /** The finalized row, or null when another run owns the analysis or it has already ended. */
  finalize(outcome: AnalysisOutcome): Promise<AnalysisRow | null> {
    return this.#finalizes.submit(outcome);
  }

  /** Resolves when every claim and finalize submitted so far has been written (or has failed). */
  async drain(): Promise<void> {
    await Promise.all([this.#claims.drain(), this.#finalizes.drain()]);
  }
}
