/**
 * Worker process entry point (Docker `worker` service, `npm run worker`): the same as
 * `stock-ledger worker`, without the CLI around it.
 */
import { loadConfig, UsageError } from "../src/config/config.js";
import { logger } from "../src/logger.js";
import { startWorkerRuntime } from "../src/queue/worker-runtime.js";
import { guardTypeFetchRejections } from "../src/store/database.js";

guardTypeFetchRejections();
try {
  const runtime = await startWorkerRuntime(loadConfig(), logger);
  const stop = async (signal: string) => {
    logger.info({ signal }, "shutting down: draining in-flight analyses");
    await runtime.close();
    logger.flush(() => process.exit(0));
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
} catch (error) {
  process.stderr.write(`stock-ledger worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(error instanceof UsageError ? 2 : 1);
}
