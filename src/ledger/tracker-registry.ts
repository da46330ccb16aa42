import { TokenTracker } from "./token-tracker.js";

export class TrackerAlreadyExistsError extends Error {
  override name = "TrackerAlreadyExistsError";
  constructor(readonly analysisId: string) {
    super(`a tracker for analysis ${analysisId} is already live`);
  }
}

/**
 * The live trackers of one process, one per analysis id. Node runs this code on one
 * thread, so check-and-insert in `create` is atomic: two jobs for the same id can never
 * share or overwrite a tracker. `withTracker` guarantees release on every outcome.
 */
export class TrackerRegistry {
  readonly #trackers = new Map<string, TokenTracker>();

  create(analysisId: string, ticker: string, model: string): TokenTracker {
    if (this.#trackers.has(analysisId)) throw new TrackerAlreadyExistsError(analysisId);
    const tracker = new TokenTracker(analysisId, ticker, model);
    this.#trackers.set(analysisId, tracker);
    return tracker;
  }

  get(analysisId: string): TokenTracker | undefined {
    return this.#trackers.get(analysisId);
  }

  release(analysisId: string): boolean {
    return this.#trackers.delete(analysisId);
  }

  get size(): number {
    return this.#trackers.size;
  }

  async withTracker<T>(
    init: { analysisId: string; ticker: string; model: string },
    work: (tracker: TokenTracker) => Promise<T>,
  ): Promise<T> {
    const tracker = this.create(init.analysisId, init.ticker, init.model);
    try {
      return await work(tracker);
    } finally {
      this.release(init.analysisId);
    }
  }
}
