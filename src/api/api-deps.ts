import type { Redis } from "ioredis";
import type { Config } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { AnalysisQueue } from "../queue/analysis-queue.js";
import type { Sql } from "../store/database.js";

/** What the API needs, built once by `serve` (or a test) and handed to every route. */
export interface ApiDeps {
  config: Config;
  sql: Sql;
  /** The producer connection behind `queue`; readyz pings it. */
  redis: Redis;
  queue: AnalysisQueue;
  logger: Logger;
}
