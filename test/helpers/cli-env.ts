import { afterAll, beforeAll } from "vitest";
import {
  createTestDatabase,
  DATABASE_POOLING,
  dropQueueKeys,
  QUEUE_BACKEND,
  type TestDatabase,
  uniqueName,
} from "./services.js";

/**
 * A CLI test file's own database and queue prefix, created before its tests and dropped after:
 * `env` is what its `runCli` calls pass. Call once at the top of the file.
 */
export function cliTestEnv(stem: string): {
  readonly db: TestDatabase;
  readonly env: Record<string, string>;
  readonly prefix: string;
} {
  const prefix = uniqueName(stem);
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    await dropQueueKeys(prefix);
  });
  return {
    prefix,
    get db() {
      if (!db) throw new Error("cliTestEnv: used before its beforeAll ran");
      return db;
    },
    get env() {
      return { DATABASE_URL: this.db.url, QUEUE_PREFIX: prefix, QUEUE_BACKEND, DATABASE_POOLING };
    },
  };
}
