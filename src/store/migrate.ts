import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../logger.js";
import { projectRoot } from "../paths.js";
import { createSql, type DatabasePooling, type Sql, splitDatabaseUrl } from "./database.js";

const MIGRATIONS_DIR = path.join(projectRoot, "sql");
// Any constant works; it only has to be the same in every process that migrates.
const MIGRATION_LOCK_ID = 7_340_211;

/** Creates the database if it is missing; a concurrent creator winning the race is fine. */
export async function ensureDatabase(
  databaseUrl: string,
  logger: Logger,
  pooling?: DatabasePooling,
): Promise<void> {
  const { name, maintenanceUrl } = splitDatabaseUrl(databaseUrl);
  if (!name || name === "postgres") return;
  const admin = createSql(maintenanceUrl, { max: 1, pooling });
  try {
    const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (exists) return;
    await admin.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    logger.info({ database: name }, "created database");
  } catch (error) {
    const code = (error as { code?: string }).code;
    // 42P04 duplicate_database; 23505 when two CREATEs race on pg_database's unique index.
    if (code !== "42P04" && code !== "23505") throw error;
  } finally {
    await admin.end();
  }
}

async function migrationFiles(): Promise<string[]> {
  return (await readdir(MIGRATIONS_DIR)).filter((file) => /^\d+_.+\.sql$/.test(file)).sort();
}

/**
 * Applies pending sql/NNN_*.sql files in order, all in one transaction under an advisory
 * lock, so two processes migrating at once apply each file exactly once.
 */
export async function runMigrations(sql: Sql, logger: Logger): Promise<string[]> {
  const files = await migrationFiles();
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`;
    const done = new Set(
      (await tx<{ name: string }[]>`SELECT name FROM schema_migrations`).map((r) => r.name),
    );
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file)) continue;
      await tx.unsafe(await readFile(path.join(MIGRATIONS_DIR, file), "utf8"));
      await tx`INSERT INTO schema_migrations (name) VALUES (${file})`;
      applied.push(file);
      logger.info({ migration: file }, "applied migration");
    }
    return applied;
  });
}

/** `pooling`: "transaction" when `databaseUrl` is a transaction pooler (no prepared statements). */
export async function migrate(
  databaseUrl: string,
  logger: Logger,
  pooling?: DatabasePooling,
): Promise<string[]> {
  await ensureDatabase(databaseUrl, logger, pooling);
  const sql = createSql(databaseUrl, { max: 1, pooling });
  try {
    return await runMigrations(sql, logger);
  } finally {
    await sql.end();
  }
}
