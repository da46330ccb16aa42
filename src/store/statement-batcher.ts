import { isTransientDbError } from "./transient.js";

/**
 * Group commit for one kind of write. Items submitted in the same turn of the event loop, or
 * while the previous batch is in flight, go to Postgres together as one statement; each
 * `submit` resolves with its own result only once that statement has committed, so batching
 * gives up no durability. One statement per batch instead of one per item is what keeps
 * Postgres' per-statement work (parse, plan, commit, WAL flush, a backend wake-up) off the
 * per-analysis cost.
 */
export interface BatchOptions<Item> {
  /** Most items per statement. */
  maxBatch: number;
  /** Items with equal keys never share a batch (one statement may not touch a row twice). */
  keyOf?: (item: Item) => string;
  /**
   * What to do with a second item for a key already in the forming batch: "replace" it (both
   * resolve when the later one is written: the later supersedes) or "defer" it to the next batch.
   */
  onDuplicateKey?: "replace" | "defer";
  /** Told, for each item, the seconds from its submit to its statement's commit (or failure). */
  observeWait?: (seconds: number) => void;
}

/** What the ledger's writers report to metrics: each write's wait to commit, by kind of write. */
export type WaitObserver = (write: "claim" | "call" | "finalize", seconds: number) => void;

interface Pending<Item, Result> {
  item: Item;
  /** performance.now() at submit. */
  submittedAt: number;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/** One item of a batch, with everyone waiting on it (several, when later items replaced it). */
interface Entry<Item, Result> {
  item: Item;
  waiters: Pending<Item, Result>[];
}

export class StatementBatcher<Item, Result> {
  #queue: Pending<Item, Result>[] = [];
  #flushing: Promise<void> | null = null;
  #scheduled = false;

  /**
   * `write` runs one statement for the batch and returns one result per item, in order. When it
   * throws for a batch of several because of the data (not a connection fault, which `write`
   * has already retried and which would fail each item alike), each item is written again on
   * its own, so one bad item fails alone instead of failing those that shared its statement.
   */
  constructor(
    private readonly write: (items: Item[]) => Promise<Result[]>,
    private readonly options: BatchOptions<Item>,
  ) {}

  submit(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, submittedAt: performance.now(), resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves when everything submitted so far has been written (or has failed). */
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

  /** The next batch: one entry per key; the waiters of replaced items ride along. */
  #takeBatch(): Entry<Item, Result>[] {
    const { keyOf, onDuplicateKey = "defer", maxBatch } = this.options;
    const batch: Entry<Item, Result>[] = [];
    const byKey = new Map<string, Entry<Item, Result>>();
    const deferred: Pending<Item, Result>[] = [];
    for (const pending of this.#queue) {
      const key = keyOf?.(pending.item);
      const existing = key === undefined ? undefined : byKey.get(key);
      if (existing && onDuplicateKey === "replace") {
        existing.item = pending.item;
        existing.waiters.push(pending);
      } else if (existing || batch.length >= maxBatch) {
        deferred.push(pending);
      } else {
        const entry = { item: pending.item, waiters: [pending] };
        batch.push(entry);
        if (key !== undefined) byKey.set(key, entry);
      }
    }
    this.#queue = deferred;
    return batch;
  }

  async #flush(): Promise<void> {
    const batch = this.#takeBatch();
    if (batch.length === 0) return;
    const { observeWait } = this.options;
    const observe = (entries: Entry<Item, Result>[]) => {
      if (!observeWait) return;
      const now = performance.now();
      for (const entry of entries)
        for (const waiter of entry.waiters) observeWait((now - waiter.submittedAt) / 1000);
    };
    const settle = (entries: Entry<Item, Result>[], results: Result[]) => {
      observe(entries);
      entries.forEach((entry, i) => {
        for (const waiter of entry.waiters) waiter.resolve(results[i] as Result);
      });
    };
    const fail = (entries: Entry<Item, Result>[], error: unknown) => {
      observe(entries);
      for (const entry of entries) for (const waiter of entry.waiters) waiter.reject(error);
    };
    try {
      settle(batch, await this.write(batch.map((entry) => entry.item)));
    } catch (error) {
      if (batch.length === 1 || isTransientDbError(error)) return fail(batch, error);
      for (const entry of batch) {
        try {
          settle([entry], await this.write([entry.item]));
        } catch (own) {
          fail([entry], own);
        }
      }
    }
  }
}
