import type { Config } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { AnalysisQueue, QueueBackend } from "../queue/queue-backend.js";
import type { Sql } from "../store/database.js";

/** What the API needs, built once by `serve` (or a test) and handed to every route. */
export interface ApiDeps {
  config: Config;
  sql: Sql;
  /** Where `queue` lives (Redis or PostgreSQL), for readiness and errors. */
  queueBackend: Pick<QueueBackend, "kind" | "service" | "address">;
  queue: AnalysisQueue;
  logger: Logger;
}

/** The name readyz and the source-up metric give the queue: "redis", or "queue" when it lives in PostgreSQL. */
export const queueCheckName = (deps: Pick<ApiDeps, "queueBackend">) =>
  deps.queueBackend.kind === "redis" ? "redis" : "queue";
