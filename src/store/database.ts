import postgres from "postgres";
import { logger } from "../logger.js";

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;
export type DatabasePooling = "session" | "transaction";

/**
 * One postgres.js pool. BIGINT sums (token totals) come back as JS numbers: they stay far
 * below 2^53. NUMERIC (money) stays a string so it is never rounded through a float.
 */
export function createSql(
  databaseUrl: string,
  options: { max?: number; connectTimeoutSeconds?: number; pooling?: DatabasePooling } = {},
): Sql {
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    // A transaction pooler hands each transaction a different server connection, which does
    // not hold the statements another one prepared.
    prepare: options.pooling !== "transaction",
    onnotice: () => {},
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (value: string) => Number(value),
      },
    },
  });
}

/**
 * True for the rejection postgres.js leaves unhandled when its first query on a new connection
 * (the array-type catalog fetch) fails, e.g. the connection is reset right after connecting:
 * it drops that query's promise (porsager/postgres#1192, #1205, #1223, open in 3.4). The
 * client reconnects and the caller's own query succeeds or fails on its own terms.
 */
export function isDroppedTypeFetchRejection(reason: unknown): boolean {
  const query = (reason as { query?: unknown } | null)?.query;
  return typeof query === "string" && /from pg_catalog\.pg_type a\s/.test(query) && /typarray/.test(query);
}

let guarded = false;

/**
 * Keeps that one rejection from killing the process (Node exits on unhandled rejections): it
 * is logged and dropped. Any other unhandled rejection is rethrown, so it still ends the
 * process as Node would. Process policy: the entry points install it.
 */
export function guardTypeFetchRejections(): void {
  if (guarded) return;
  guarded = true;
  process.on("unhandledRejection", (reason) => {
    if (!isDroppedTypeFetchRejection(reason)) throw reason;
    logger.warn(
      { err: reason instanceof Error ? reason.message : String(reason) },
      "postgres.js type fetch failed on a new connection; it reconnects",
    );
  });
}

/** The database name in a postgres URL, and the same URL pointed at the maintenance database. */
export function splitDatabaseUrl(databaseUrl: string): { name: string; maintenanceUrl: string } {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  url.pathname = "/postgres";
  return { name, maintenanceUrl: url.toString() };
}
