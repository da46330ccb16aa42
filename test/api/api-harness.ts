import type { FastifyInstance } from "fastify";
import { buildApi } from "../../src/api/server.js";
import type { Config } from "../../src/config/config.js";
import type { EmulatorHandle } from "../../src/llm/emulator/index.js";
import { logger } from "../../src/logger.js";
import type { AnalysisQueue, QueueBackend } from "../../src/queue/queue-backend.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import {
  createTestDatabase,
  dropQueueKeys,
  openTestQueue,
  type TestDatabase,
  testConfig,
  uniqueName,
} from "../helpers/services.js";
import { startEmulatedWorker, waitUntilEnded as waitForAnalysesToEnd } from "../helpers/worker-test-env.js";

export interface ApiHarness {
  db: TestDatabase;
  config: Config;
  app: FastifyInstance;
  queue: AnalysisQueue;
  queueBackend: QueueBackend;
  /** Set when started with `listen: true`. */
  url: string;
  close(): Promise<void>;
}

/** The real API on its own database and queue prefix, as `serve` builds it. */
export async function startApiHarness(
  options: { env?: Record<string, string>; listen?: boolean; db?: TestDatabase } = {},
): Promise<ApiHarness> {
  // A database passed in (e.g. a pipeline harness') stays its owner's to drop.
  const db = options.db ?? (await createTestDatabase());
  const prefix = uniqueName("sl-test-api");
  const config = testConfig({ DATABASE_URL: db.url, QUEUE_PREFIX: prefix, ...options.env });
  const opened = openTestQueue(config);
  const { queue, backend: queueBackend } = opened;
  await queue.waitUntilReady();
  const app = await buildApi({ config, sql: db.sql, queueBackend, queue, logger });
  let url = "";
  if (options.listen) {
    await app.listen({ port: 0, host: "127.0.0.1" });
    const address = app.server.address();
    url = `http://127.0.0.1:${typeof address === "object" ? address?.port : ""}`;
  }
  return {
    db,
    config,
    app,
    queue,
    queueBackend,
    url,
    async close() {
      await app.close();
      await opened.close();
      if (!options.db) await db.drop();
      await dropQueueKeys(prefix);
    },
  };
}

/** A second server on the harness' database and queue with API_TOKEN set, closed by the caller. */
export function securedApi(harness: ApiHarness, token: string): Promise<FastifyInstance> {
  return buildApi({
    config: { ...harness.config, apiToken: token },
    sql: harness.db.sql,
    queueBackend: harness.queueBackend,
    queue: harness.queue,
    logger,
  });
}

/** A real worker (BullMQ, Postgres) in this process, calling the given emulator. */
export function startTestWorker(config: Config, emulator: EmulatorHandle): Promise<WorkerRuntime> {
  return startEmulatedWorker(config, emulator, { concurrency: 8 });
}

/** Polls until every analysis has ended (Postgres is the source of truth). */
export function waitUntilEnded(harness: ApiHarness, ids: string[], timeoutMs = 30_000): Promise<void> {
  return waitForAnalysesToEnd(harness.db.sql, ids, timeoutMs);
}
