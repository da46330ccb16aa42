import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { type Config, loadConfig } from "../../src/config/config.js";
import { logger } from "../../src/logger.js";
import { createAnalysisQueue } from "../../src/queue/analysis-queue.js";
import { createRedis } from "../../src/queue/redis.js";
import { insertQueuedAnalysis } from "../../src/store/analyses-repo.js";
import { createSql, type Sql, splitDatabaseUrl } from "../../src/store/database.js";
import { migrate } from "../../src/store/migrate.js";

export const PG_SERVER = process.env.TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export const uniqueName = (stem: string) => `${stem}_${process.pid}_${randomBytes(4).toString("hex")}`;

/**
 * A `queued` analysis row under a fresh id (stock_analyses ids take no '_'), for tests that
 * drive the ledger below the queue.
 */
export async function insertTestAnalysis(
  sql: Sql,
  options: { stem: string; ticker?: string; model?: string },
): Promise<string> {
  const id = uniqueName(options.stem).replaceAll("_", "-");
  await insertQueuedAnalysis(sql, {
    id,
    ticker: options.ticker ?? "AAPL",
    model: options.model ?? "gemini-2.5-flash",
  });
  return id;
}

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** A fresh database per test file, created and migrated by the product's own `migrate`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const url = `${PG_SERVER}/${uniqueName("sl_test")}`;
  await migrate(url, logger);
  const sql = createSql(url, { max: 10 });
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const { name, maintenanceUrl } = splitDatabaseUrl(url);
      const admin = createSql(maintenanceUrl, { max: 1 });
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Deletes every BullMQ key under a test's queue prefix. */
export async function dropQueueKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export async function countQueueKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    return (await redis.keys(`${prefix}:*`)).length;
  } finally {
    redis.disconnect();
  }
}

/** The product's config for a test: its own database, queue prefix and LLM endpoint. */
export function testConfig(env: Record<string, string | undefined>): Config {
  // Charts cost CPU and are tested on their own (test/analysis/charts.test.ts, the CLI tests).
  return loadConfig({ REDIS_URL, LLM_TIMEOUT_MS: "15000", CHARTS: "off", ...env });
}

/** A producer queue for a test, with its own connection closed along with it. */
export function openTestQueue(redisUrl: string, prefix: string) {
  const connection = createRedis(redisUrl, "worker");
  connection.on("error", () => {});
  const queue = createAnalysisQueue(connection, prefix);
  return {
    queue,
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}
