/** Postgres databases and Redis key space of one bench run, created and dropped by the bench. */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { logger } from "../../src/logger.js";
import { openQueueBackend } from "../../src/queue/queue-backend.js";
import { createSql, type Sql, splitDatabaseUrl } from "../../src/store/database.js";
import { migrate } from "../../src/store/migrate.js";

export const PG_SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

/** The bench's own use of product code (migrate) logs only warnings: its output is the figures. */
const quiet = logger.child({}, { level: "warn" });

export const uniqueName = (stem: string) => `${stem}_${process.pid}_${randomBytes(3).toString("hex")}`;

export interface BenchDatabase {
  name: string;
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** A fresh database, created and migrated by the product's own `migrate`, dropped after the run. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = uniqueName("sl_bench");
  const url = `${PG_SERVER}/${name}`;
  await migrate(url, quiet);
  const sql = createSql(url, { max: 4 });
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const admin = createSql(splitDatabaseUrl(url).maintenanceUrl, { max: 1 });
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

async function scanKeys(redis: Redis, prefix: string, each: (keys: string[]) => Promise<void>) {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 5000);
    cursor = next;
    if (keys.length > 0) await each(keys);
  } while (cursor !== "0");
}

/** Keys under a queue prefix, in total and how many are job hashes (`<prefix>:<queue>:<jobId>`). */
export async function countQueueKeys(prefix: string): Promise<{ total: number; jobs: number }> {
  const redis = new Redis(REDIS_URL);
  const fixed =
    /:(wait|paused|active|prioritized|delayed|completed|failed|stalled|id|meta|events|marker|limiter|stalled-check|pc|de|repeat|metrics|lock)$/;
  let total = 0;
  let jobs = 0;
  try {
    await scanKeys(redis, prefix, async (keys) => {
      total += keys.length;
      jobs += keys.filter((k) => !fixed.test(k) && !k.endsWith(":lock") && !k.endsWith(":logs")).length;
    });
    return { total, jobs };
  } finally {
    redis.disconnect();
  }
}

export async function dropQueueKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    await scanKeys(redis, prefix, async (keys) => {
      await redis.del(...keys);
    });
  } finally {
    redis.disconnect();
  }
}

/** Redis' own CPU (server process), for information: it is shared with anything else using it. */
export async function redisServerPid(): Promise<number | null> {
  const redis = new Redis(REDIS_URL);
  try {
    const info = await redis.info("server");
    const match = /process_id:(\d+)/.exec(info);
    return match ? Number(match[1]) : null;
  } finally {
    redis.disconnect();
  }
}

export type BenchQueueBackend = "redis" | "postgres";

/** The analyses queue of one bench run on either backend (PostgreSQL: in the run's database). */
export function openBenchQueue(
  databaseUrl: string,
  prefix: string,
  backend: BenchQueueBackend = "redis",
  redisUrl = REDIS_URL,
) {
  const queues = openQueueBackend({
    queueBackend: backend,
    redisUrl,
    databaseUrl,
    queuePrefix: prefix,
  });
  const queue = queues.queue("worker");
  const opened: { close(): Promise<unknown> }[] = [queue];
  return {
    queue,
    queueEvents() {
      const events = queues.queueEvents();
      opened.push(events);
      return events;
    },
    async close() {
      for (const item of opened.reverse()) await item.close().catch(() => undefined);
      await queues.close();
    },
  };
}
