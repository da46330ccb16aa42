import type { Logger } from "../logger.js";
import type { Sql } from "./database.js";
import { foldPendingRollups } from "./rollups-repo.js";

/**
 * Folds finalized analyses into the stats rollups a moment after they finalize, many at a
 * time, so finalizes never queue on the shared rollup rows. Stats are exact without it (readers
 * add pending analyses); folding only keeps the pending set small.
 */
export class RollupFolder {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
    /** How long a finalize waits for others to share its fold. */
    private readonly delayMs = 1000,
    private readonly batch = 500,
  ) {}

  /** An analysis was finalized: fold soon (one fold for every finalize until then). */
  poke(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.foldNow();
    }, this.delayMs);
    this.#timer.unref();
  }

  /** Folds everything pending now; a fold already under way (here or elsewhere) is left to finish it. */
  foldNow(): Promise<void> {
    this.#running ??= this.#foldAll().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** Stops the timer and folds once more, so a stopping worker leaves nothing pending behind. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
    await this.#foldAll();
  }

  async #foldAll(): Promise<void> {
    try {
      for (;;) {
        const folded = await foldPendingRollups(this.sql, this.batch);
        // Another worker is folding, maybe from a snapshot without ours: look again shortly.
        if (folded === null) return this.poke();
        if (folded < this.batch) return;
      }
    } catch (err) {
      // Nothing is lost: the analyses stay pending (and counted) until the next fold.
      this.logger.warn({ err }, "could not fold pending analyses into the stats rollups");
    }
  }
}
