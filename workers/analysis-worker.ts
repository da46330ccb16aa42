/**
 * Worker process entry point (Docker `worker` service, `npm run worker`): the same as
 * `stock-ledger worker`, without the CLI around it. Everything loads inside the try: a bad
 * LOG_LEVEL or other env is one line and exit 2 here too, not a stack trace.
 */
import { UsageError } from "../src/config/config.js";

try {
  const { loadConfig } = await import("../src/config/config.js");
  const { logger } = await import("../src/logger.js");
  const { startWorkerRuntime } = await import("../src/queue/worker-runtime.js");
  const { guardTypeFetchRejections } = await import("../src/store/database.js");
  guardTypeFetchRejections();
  const runtime = await startWorkerRuntime(loadConfig(), logger);
  const stop = async (signal: string) => {
    logger.info({ signal }, "shutting down: draining in-flight analyses");
    await runtime.close();
    logger.flush(() => process.exit(0));
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
} catch (error) {
  process.stderr.write(`stock-ledger: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(error instanceof UsageError ? 2 : 1);
}
