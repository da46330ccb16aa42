import { type Config, loadConfig } from "../config/config.js";
import { installPriceBook } from "../config/price-book-file.js";
import type { PriceBook } from "../ledger/price-table.js";
import { logger } from "../logger.js";
import type { AnalysisQueue, AnalysisQueueEvents, QueueBackend } from "../queue/queue-backend.js";
import { createSql, type Sql } from "../store/database.js";

/** Set by loadQueueBackend(): BullMQ and ioredis take longer to load than most commands take to run. */
let openQueueBackend: typeof import("../queue/queue-backend.js").openQueueBackend | undefined;

/**
 * What a command needs, opened on first use and closed once at exit, so commands that
 * only validate input never touch the queue or Postgres.
 */
export class CliContext {
  readonly logger = logger;
  /** The config and the price book installed from it (PRICE_BOOK_FILE), loaded together. */
  #loaded: { config: Config; priceBook: PriceBook } | undefined;
  #sql: Sql | undefined;
  #queueBackend: QueueBackend | undefined;
  readonly #closers: (() => Promise<unknown>)[] = [];
  readonly #afterClose: (() => Promise<unknown>)[] = [];

  constructor(readonly env: NodeJS.ProcessEnv = process.env) {}

  #load(): { config: Config; priceBook: PriceBook } {
    if (!this.#loaded) {
      const config = loadConfig(this.env);
      // A bad PRICE_BOOK_FILE stops any command like bad env does: exit 2, one line.
      this.#loaded = { config, priceBook: installPriceBook(config) };
    }
    return this.#loaded;
  }

  get config(): Config {
    return this.#load().config;
  }

  /** The shipped price book merged with PRICE_BOOK_FILE's versions. */
  get priceBook(): PriceBook {
    return this.#load().priceBook;
  }

  /** The database URL, once the config was loaded (for error messages; never loads it). */
  get databaseUrlIfLoaded(): string | undefined {
    return this.#loaded?.config.databaseUrl;
  }

  /** Replaces the loaded config (demo runs on its own queue prefix). */
  useConfig(config: Config): void {
    this.#loaded = { config, priceBook: installPriceBook(config) };
  }

  get sql(): Sql {
    // A command answers within seconds when PostgreSQL does not: 4 s to connect, not 10.
    this.#sql ??= createSql(this.config.databaseUrl, {
      connectTimeoutSeconds: 4,
      pooling: this.config.databasePooling,
    });
    return this.#sql;
  }

  /** Loads the queue's modules; main.ts awaits it before the action of a command that uses the queue. */
  async loadQueueBackend(): Promise<void> {
    openQueueBackend ??= (await import("../queue/queue-backend.js")).openQueueBackend;
  }

  /** Redis or PostgreSQL (QUEUE_BACKEND); its connections are closed after the classes on it. */
  get queueBackend(): QueueBackend {
    if (!this.#queueBackend) {
      if (!openQueueBackend) throw new Error("CliContext.queueBackend used before loadQueueBackend()");
      const backend = openQueueBackend(this.config);
      this.#queueBackend = backend;
      this.#closers.unshift(() => backend.close());
    }
    return this.#queueBackend;
  }

  queue(): AnalysisQueue {
    const queue = this.queueBackend.queue("producer");
    // Without a listener BullMQ prints every reconnect failure as a stack trace; the command
    // reports an unreachable queue itself, in one line (assertQueueReachable).
    queue.on("error", () => {});
    this.onClose(() => queue.close());
    return queue;
  }

  async queueEvents(): Promise<AnalysisQueueEvents> {
    const events = this.queueBackend.queueEvents();
    events.on("error", () => {});
    this.onClose(() => events.close());
    await events.waitUntilReady();
    return events;
  }

  onClose(closer: () => Promise<unknown>): void {
    this.#closers.push(closer);
  }

  /** Runs after every connection is closed (demo's embedded PostgreSQL stops last). */
  afterClose(step: () => Promise<unknown>): void {
    this.#afterClose.push(step);
  }

  async close(): Promise<void> {
    for (const closer of this.#closers.reverse()) await closer().catch(() => undefined);
    await this.#sql?.end({ timeout: 5 });
    for (const step of this.#afterClose) await step().catch(() => undefined);
  }
}
