import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";
import type { Config } from "../../src/config/config.js";
import { type EmulatorHandle, type EmulatorOptions, startEmulator } from "../../src/llm/emulator/index.js";
import { GeminiClient } from "../../src/llm/gemini-client.js";
import { logger } from "../../src/logger.js";
import { startWorkerRuntime, type WorkerRuntime } from "../../src/queue/worker-runtime.js";
import type { Sql } from "../../src/store/database.js";
import {
  createTestDatabase,
  dropQueueKeys,
  QUEUE_BACKEND,
  type TestDatabase,
  uniqueName,
} from "./services.js";

/**
 * A test file's own database, emulator and queue prefix, made before its tests and removed
 * after, for files that run workers in process. Call once at the top of the file.
 */
export function workerTestEnv(
  stem: string,
  emulatorOptions: EmulatorOptions,
): { readonly db: TestDatabase; readonly emulator: EmulatorHandle; readonly prefix: string } {
  const prefix = uniqueName(stem);
  let db: TestDatabase | undefined;
  let emulator: EmulatorHandle | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    emulator = await startEmulator(emulatorOptions);
  });
  afterAll(async () => {
    await emulator?.close();
    await db?.drop();
    await dropQueueKeys(prefix);
  });
  const made = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("workerTestEnv: used before its beforeAll ran");
    return value;
  };
  return {
    prefix,
    get db() {
      return made(db);
    },
    get emulator() {
      return made(emulator);
    },
  };
}

/**
 * A real worker (BullMQ, Postgres) in this process, calling the given emulator through the
 * real SDK (or `client`, a test's own GeminiClient subclass).
 */
export function startEmulatedWorker(
  config: Config,
  emulator: EmulatorHandle,
  options: { concurrency: number; client?: GeminiClient },
): Promise<WorkerRuntime> {
  const client =
    options.client ?? new GeminiClient({ apiKey: "test", baseUrl: emulator.url, timeoutMs: 5000 });
  return startWorkerRuntime(config, logger, {
    concurrency: options.concurrency,
    llmConnection: { client, endpoint: emulator.url, emulator, close: async () => {} },
  });
}

/** Polls until every analysis has ended (Postgres is the source of truth). */
export async function waitUntilEnded(sql: Sql, ids: string[], timeoutMs = 30_000): Promise<void> {
  let ended = 0;
  await waitUntil(
    async () => {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stock_analyses
        WHERE id = ANY(${ids}) AND status NOT IN ('queued', 'running')`;
      ended = row?.n ?? 0;
      return ended === ids.length;
    },
    () => `${ids.length - ended} of ${ids.length} analyses to end`,
    timeoutMs,
  );
}

/** Polls `check` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await sleep(100);
  }
}

/**
 * For files that run `stock-ledger worker` processes: the file's database, emulator and queue
 * prefix (workerTestEnv), and the environment a worker process needs to use them.
 */
export function workerProcessEnv(
  stem: string,
  emulatorOptions: EmulatorOptions,
  extraEnv: Record<string, string>,
): ReturnType<typeof workerTestEnv> & { readonly env: Record<string, string> } {
  const test = workerTestEnv(stem, emulatorOptions);
  return Object.defineProperty(test, "env", {
    get: () => ({
      DATABASE_URL: test.db.url,
      QUEUE_PREFIX: test.prefix,
      QUEUE_BACKEND,
      GEMINI_BASE_URL: test.emulator.url,
      GEMINI_API_KEY: "test",
      ...extraEnv,
    }),
  }) as ReturnType<typeof workerTestEnv> & { readonly env: Record<string, string> };
}
