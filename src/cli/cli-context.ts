import type { QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { type Config, loadConfig } from "../config/config.js";
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
  #config: Config | undefined;
  #sql: Sql | undefined;
  readonly #redis: Redis[] = [];
  readonly #closers: (() => Promise<unknown>)[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  get config(): Config {
    this.#config ??= loadConfig(this.env);
    return this.#config;
  }

  /** The database URL, once the config was loaded (for error messages; never loads it). */
  get databaseUrlIfLoaded(): string | undefined {
    return this.#config?.databaseUrl;
  }

  /** Replaces the loaded config (demo runs on its own queue prefix). */
  useConfig(config: Config): void {
    this.#config = config;
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
