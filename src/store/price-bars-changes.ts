import type { Logger } from "../logger.js";
import type { Sql, TransactionSql } from "./database.js";

/** Imports NOTIFY this channel, payload the ticker, when they commit. */
export const PRICE_BARS_CHANNEL = "price_bars_changed";

// No ticker starts with "~" (TICKER_PATTERN), so heartbeats cannot be taken for imports.
const HEARTBEAT = "~heartbeat";

/**
 * Queues one notification per ticker. Postgres delivers them when the surrounding transaction
 * commits and drops them when it rolls back, so listeners hear only of bars that exist.
 */
export async function notifyPriceBarsChanged(
  db: Sql | TransactionSql,
  tickers: readonly string[],
): Promise<void> {
  if (tickers.length === 0) return;
  await db`SELECT pg_notify(${PRICE_BARS_CHANNEL}, t) FROM unnest(${tickers as string[]}::text[]) AS t`;
}

export interface PriceBarsChangeHandler {
  /** An import of `ticker` committed. */
  changed(ticker: string): void;
  /** Listening (again): notifications sent before this moment may have been missed. */
  reset(): void;
}

export interface PriceBarsWatchOptions {
  logger: Logger;
  /** How often the watch notifies itself to prove the listening connection still hears. */
  heartbeatMs?: number;
  now?: () => number;
}

/**
 * LISTENs for committed imports on postgres.js' dedicated listen connection, which
 * re-listens by itself after a disconnect (calling `reset` each time it is back).
 * A connection can also die silently (a half-open socket goes unnoticed for minutes), so
 * the watch sends itself a heartbeat: `reliable` is true only while something was heard
 * within three heartbeats. Callers cache nothing while it is false.
 */
export class PriceBarsWatch {
  readonly #sql: Sql;
  readonly #handler: PriceBarsChangeHandler;
  readonly #logger: Logger;
  readonly #heartbeatMs: number;
  readonly #now: () => number;
  #listening = false;
  #lastHeardAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<unknown>) | undefined;
  #closed = false;
  #wasReliable = false;
  /** Settles when the first LISTEN is in place (postgres.js retries until the database answers). */
  ready: Promise<void> = Promise.resolve();

  constructor(sql: Sql, handler: PriceBarsChangeHandler, opts: PriceBarsWatchOptions) {
    this.#sql = sql;
    this.#handler = handler;
    this.#logger = opts.logger;
    this.#heartbeatMs = opts.heartbeatMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  start(): Promise<void> {
    this.#timer = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#timer.unref();
    this.ready = this.#sql
      .listen(
        PRICE_BARS_CHANNEL,
        (payload) => this.#heard(payload),
        () => this.#listened(),
      )
      .then(({ unlisten }) => {
        this.#unlisten = unlisten;
        if (this.#closed) void unlisten().catch(() => {});
      });
    return this.ready;
  }

  /** True while a committed import would reach `changed` (or a reconnect `reset`). */
  get reliable(): boolean {
    return !this.#closed && this.#listening && this.#now() - this.#lastHeardAt <= 3 * this.#heartbeatMs;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#unlisten?.().catch(() => {});
  }

  #listened(): void {
    if (this.#closed) return;
    this.#listening = true;
    this.#lastHeardAt = this.#now();
    this.#handler.reset();
  }

  #heard(payload: string): void {
    if (this.#closed) return;
    this.#lastHeardAt = this.#now();
    if (!payload.startsWith("~")) this.#handler.changed(payload);
  }

  #beat(): void {
    const reliable = this.reliable;
    if (this.#wasReliable && !reliable) {
      this.#logger.warn(
        { channel: PRICE_BARS_CHANNEL },
        "price_bars listener has gone quiet; market inputs are not cached until it hears again",
      );
    }
    this.#wasReliable = reliable;
    this.#sql.notify(PRICE_BARS_CHANNEL, HEARTBEAT).catch((err: unknown) => {
      this.#logger.debug({ err }, "price_bars heartbeat not sent");
    });
  }
}
