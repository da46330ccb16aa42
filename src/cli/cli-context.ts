import type { QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { type Config, loadConfig } from "../config/config.js";
import { installPriceBook } from "../config/price-book-file.js";
import type { PriceBook } from "../ledger/price-table.js";
import { logger } from "../logger.js";
import {
  type AnalysisQueue,
  createAnalysisQueue,
  createAnalysisQueueEvents,
} from "../queue/analysis-queue.js";
import { createRedis } from "../queue/redis.js";
import { createSql, type Sql } from "../store/database.js";

/**
 * What a command needs, opened on first use and closed once at exit, so commands that
 * only validate input never touch Redis or Postgres.
 */
export class CliContext {
  readonly logger = logger;
  /** The config and the price book installed from it (PRICE_BOOK_FILE), loaded together. */
  #loaded: { config: Config; priceBook: PriceBook } | undefined;
  #sql: Sql | undefined;
  readonly #redis: Redis[] = [];
  readonly #closers: (() => Promise<unknown>)[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

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
    this.#sql ??= createSql(this.config.databaseUrl, { connectTimeoutSeconds: 4 });
    return this.#sql;
  }

  redis(role: "worker" | "producer"): Redis {
    const connection = createRedis(this.config.redisUrl, role);
    connection.on("error", () => {}); // surfaced by the commands that use it
    this.#redis.push(connection);
    return connection;
  }

  queue(): AnalysisQueue {
    const queue = createAnalysisQueue(this.redis("producer"), this.config.queuePrefix);
    // Without a listener BullMQ prints every reconnect failure as a stack trace; the command
    // reports an unreachable Redis itself, in one line (assertQueueReachable).
    queue.on("error", () => {});
    this.onClose(() => queue.close());
    return queue;
  }

  async queueEvents(): Promise<QueueEvents> {
    const events = createAnalysisQueueEvents(this.redis("worker"), this.config.queuePrefix);
    this.onClose(() => events.close());
    await events.waitUntilReady();
    return events;
  }

  onClose(closer: () => Promise<unknown>): void {
    this.#closers.push(closer);
  }

  async close(): Promise<void> {
    for (const closer of this.#closers.reverse()) await closer().catch(() => undefined);
    await Promise.all(this.#redis.map((r) => r.quit().catch(() => r.disconnect())));
    await this.#sql?.end({ timeout: 5 });
  }
}
