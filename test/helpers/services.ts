import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { type Config, loadConfig } from "../../src/config/config.js";
import { logger } from "../../src/logger.js";
import { openQueueBackend } from "../../src/queue/queue-backend.js";
import { insertQueuedAnalysis } from "../../src/store/analyses-repo.js";
import { createSql, type Sql, splitDatabaseUrl } from "../../src/store/database.js";
import { migrate } from "../../src/store/migrate.js";

/** In the "pgbouncer" project, the PgBouncer its globalSetup started (test/helpers/pgbouncer-setup.ts). */
async function providedPgBouncer(): Promise<string | undefined> {
  if (!process.env.VITEST || process.env.DATABASE_POOLING !== "transaction") return undefined;
  const { inject } = await import("vitest");
  return inject("pgBouncerServer");
}

export const PG_SERVER =
  process.env.TEST_PG_URL ?? (await providedPgBouncer()) ?? "postgres://postgres@127.0.0.1:5432";
/** "transaction" in the "pgbouncer" project, where PG_SERVER is a PgBouncer in transaction pooling. */
export const DATABASE_POOLING: Config["databasePooling"] =
  process.env.DATABASE_POOLING === "transaction" ? "transaction" : "session";
export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/** The queue backend the suites run on: vitest's "postgres" project sets QUEUE_BACKEND (vitest.config.ts). */
export const QUEUE_BACKEND: Config["queueBackend"] =
  process.env.QUEUE_BACKEND === "postgres" ? "postgres" : "redis";

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
export async function createTestDatabase(server = PG_SERVER): Promise<TestDatabase> {
  const url = `${server}/${uniqueName("sl_test")}`;
  await migrate(url, logger, DATABASE_POOLING);
  const sql = createSql(url, { max: 10, pooling: DATABASE_POOLING });
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const { name, maintenanceUrl } = splitDatabaseUrl(url);
      const admin = createSql(maintenanceUrl, { max: 1, pooling: DATABASE_POOLING });
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Deletes every BullMQ key under a test's queue prefix (on the PostgreSQL backend the queue goes with the test database). */
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

/**
 * What a command left in the queue: on Redis every key under the prefix (none at all when
 * nothing was enqueued), on PostgreSQL the jobs of any state.
 */
export async function countQueueKeys(env: Record<string, string>): Promise<number> {
  if (QUEUE_BACKEND === "redis") {
    const redis = new Redis(REDIS_URL);
    try {
      return (await redis.keys(`${env.QUEUE_PREFIX ?? ""}:*`)).length;
    } finally {
      redis.disconnect();
    }
  }
  const opened = openTestQueue(testConfig(env));
  try {
    const counts = await opened.queue.getJobCounts();
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  } finally {
    await opened.close();
  }
}

/** The product's config for a test: its own database, queue prefix and LLM endpoint. */
export function testConfig(env: Record<string, string | undefined>): Config {
  // Charts cost CPU and are tested on their own (test/analysis/charts.test.ts, the CLI tests).
  return loadConfig({
    REDIS_URL,
    QUEUE_BACKEND,
    DATABASE_POOLING,
    LLM_TIMEOUT_MS: "15000",
    CHARTS: "off",
    ...env,
  });
}

/** A queue (and its QueueEvents on demand) on the test's backend, closed along with its connections. */
export function openTestQueue(config: Config, role: "producer" | "worker" = "worker") {
  const backend = openQueueBackend(config);
  const queue = backend.queue(role);
  queue.on("error", () => {});
  const opened: { close(): Promise<unknown> }[] = [queue];
  return {
    queue,
    backend,
    async queueEvents() {
      const events = backend.queueEvents();
      opened.push(events);
      await events.waitUntilReady();
      return events;
    },
    async close() {
      for (const item of opened) await item.close().catch(() => undefined);
      await backend.close();
    },
  };
}
