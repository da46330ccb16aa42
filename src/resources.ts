import { hasDailyBudget } from "./analysis/daily-budget.js";
import type { ExecuteDeps } from "./analysis/execute-analysis.js";
import { type MarketInputsCache, watchedMarketInputs } from "./analysis/market-inputs.js";
import type { Config } from "./config/config.js";
import { TrackerRegistry } from "./ledger/tracker-registry.js";
import { connectLlm, type LlmConnection } from "./llm/create-llm.js";
import { PgRateLimiter } from "./llm/pg-rate-limiter.js";
import { type RateLimiter, SharedRateLimiter } from "./llm/rate-limiter.js";
import { DEFAULT_RETRY_POLICY } from "./llm/retry-policy.js";
import type { Logger } from "./logger.js";
import { createPriceProvider } from "./market/index.js";
import { recordLedgerWriteWait } from "./metrics/worker-metrics.js";
import { closeRedis, createRedis } from "./queue/redis.js";
import { AnalysisWriter } from "./store/analysis-writer.js";
import { CallWriter } from "./store/call-writer.js";
import { createSql, type Sql } from "./store/database.js";
import { RollupFolder } from "./store/rollup-folder.js";

/**
 * The shared resources of a worker process, built once in the entry point and handed down
 * (Trigger.dev's SystemResources): tests build the same object with real services.
 */
export interface WorkerResources extends ExecuteDeps {
  config: Config;
  llmConnection: LlmConnection;
  /** The worker's cache, whose statistics its metrics report. */
  marketInputs: MarketInputsCache;
  close(): Promise<void>;
}

/** Beyond a call's own deadline: its closing row's commit, retried through a database blip. */
const RESERVATION_SLACK_MS = 60_000;

export async function createWorkerResources(
  config: Config,
  logger: Logger,
  overrides: { sql?: Sql; llmConnection?: LlmConnection } = {},
): Promise<WorkerResources> {
  const sql =
    overrides.sql ??
    createSql(config.databaseUrl, {
      max: Math.min(20, config.workerConcurrency + 2),
      pooling: config.databasePooling,
    });
  const listenSql = listenConnection(config, sql, logger);
  const llmConnection = overrides.llmConnection ?? (await connectLlm(config, logger));
  const { rateLimit } = config.gemini;
  const limited = Boolean(rateLimit.requestsPerWindow || rateLimit.tokensPerWindow);
  // With the queue on PostgreSQL there is no Redis at all: the limiter's log goes on the
  // worker's own pool, which `close` ends, so the limiter needs no closing of its own.
  const limiterRedis =
    limited && config.queueBackend !== "postgres" ? createRedis(config.redisUrl, "worker") : null;
  limiterRedis?.on("error", () => {}); // the worker's own connection reports Redis trouble
  let rateLimiter: RateLimiter | null = null;
  if (limiterRedis) rateLimiter = new SharedRateLimiter(limiterRedis, config.queuePrefix, rateLimit, logger);
  else if (limited) rateLimiter = new PgRateLimiter(sql, config.queuePrefix, rateLimit, logger);
  const rollupFolder = new RollupFolder(sql, logger);
  const prices = createPriceProvider({ sql, logger, market: config.market });
  const market = watchedMarketInputs({ listenSql, prices, charts: config.charts, logger });
  return {
    config,
    sql,
    callWriter: new CallWriter(sql, logger, { observeWait: recordLedgerWriteWait }),
    analysisWriter: new AnalysisWriter(sql, logger, { observeWait: recordLedgerWriteWait }),
    rollupFolder,
    rateLimiter,
    llm: llmConnection.client,
    llmConnection,
    prices,
    charts: config.charts,
    // A reservation a killed worker never released lapses once its call cannot be in flight.
    dailyBudget: hasDailyBudget(config.budget)
      ? { sql, budget: config.budget, ttlMs: config.gemini.timeoutMs + RESERVATION_SLACK_MS }
      : null,
    marketInputs: market.cache,
    registry: new TrackerRegistry(),
    leaseMs: config.workerLockMs,
    reuseTtlSeconds: config.reuse.ttlSeconds,
    batchSettings: config.batch,
    createTimeoutMs: config.gemini.timeoutMs,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, maxAttempts: config.gemini.maxAttempts },
    logger,
    async close() {
      await rollupFolder.close();
      await market.close();
      if (listenSql && listenSql !== sql) await listenSql.end({ timeout: 5 });
      if (!overrides.llmConnection) await llmConnection.close();
      if (limiterRedis) await closeRedis(limiterRedis);
      if (!overrides.sql) await sql.end({ timeout: 5 });
    },
  };
}

/**
 * Where the worker LISTENs for price imports: its own pool, or, behind a transaction pooler
 * (which drops a LISTEN with the transaction), DATABASE_LISTEN_URL; with neither, nowhere:
 * market inputs are then computed afresh for every analysis, correct but slower.
 */
function listenConnection(config: Config, sql: Sql, logger: Logger): Sql | null {
  if (config.databasePooling !== "transaction") return sql;
  if (config.databaseListenUrl) return createSql(config.databaseListenUrl, { max: 1 });
  logger.warn(
    "DATABASE_POOLING=transaction and no DATABASE_LISTEN_URL: not listening for price imports, so market inputs are not cached",
  );
  return null;
}
