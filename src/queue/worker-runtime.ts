import { pollOrphanedBatches } from "../analysis/batch/batch-poller.js";
import type { Config } from "../config/config.js";
import { installPriceBook } from "../config/price-book-file.js";
import type { LlmConnection } from "../llm/create-llm.js";
import type { Logger } from "../logger.js";
import { watchMarketInputsCache, watchTrackerRegistry } from "../metrics/worker-metrics.js";
import { createWorkerResources, type WorkerResources } from "../resources.js";
import type { Sql } from "../store/database.js";
import { migrate } from "../store/migrate.js";
import { ensureCallPartitions } from "../store/partitions-repo.js";
import { syncCacheRates } from "../store/savings-repo.js";
import { type AnalysisQueue, wakeAnalysisJobs } from "./analysis-queue.js";
import { createAnalysisWorker } from "./analysis-worker.js";
import { openQueueBackend } from "./queue-backend.js";
import { recoverOrphanedAnalyses } from "./recovery.js";

export interface WorkerRuntime {
  resources: WorkerResources;
  /** Graceful: stop taking jobs, drain in-flight ones (then cancel them for resume), close connections. */
  close(drainMs?: number): Promise<void>;
}

/** Everything one worker process runs: schema check, shared resources and the BullMQ worker. */
export async function startWorkerRuntime(
  config: Config,
  logger: Logger,
  options: { concurrency?: number; llmConnection?: LlmConnection; sql?: Sql } = {},
): Promise<WorkerRuntime> {
  // A bad PRICE_BOOK_FILE stops the worker before it touches anything (PriceBookFileError, exit 2).
  const priceBook = installPriceBook(config);
  await migrate(config.databaseUrl, logger, config.databasePooling);
  const resources = await createWorkerResources(config, logger, options);
  try {
    // Cache savings are read per price version from stats_cache_rates: the file's versions too.
    await syncCacheRates(resources.sql, priceBook);
  } catch (error) {
    await resources.close();
    throw error;
  }
  const backend = openQueueBackend(config);
  const concurrency = options.concurrency ?? config.workerConcurrency;
  // One producer-side queue for the orphan sweep and for waking analyses whose batch is in.
  const queue = backend.queue("worker");
  queue.on("error", () => {}); // the worker reports queue trouble itself
  const deps = { ...resources, wakeAnalyses: (ids: string[]) => wakeAnalysisJobs(queue, ids) };
  const { worker, close } = createAnalysisWorker(deps, {
    backend,
    concurrency,
    lockMs: config.workerLockMs,
    budget: config.budget,
  });
  await worker.waitUntilReady();
  const recovery = startRecoveryLoop(config, queue, deps, logger);
  const unwatchTrackers = watchTrackerRegistry(resources.registry);
  const unwatchMarketInputs = watchMarketInputsCache(resources.marketInputs);
  logger.info(
    {
      concurrency,
      queueBackend: backend.kind,
      queuePrefix: config.queuePrefix,
      llm: resources.llmConnection.endpoint,
    },
    "worker ready",
  );
  return {
    resources,
    async close(drainMs) {
      await recovery.stop();
      unwatchTrackers();
      unwatchMarketInputs();
      await close(drainMs);
      await queue.close();
      await resources.callWriter.drain();
      await resources.analysisWriter.drain();
      await backend.close();
      await resources.close();
      logger.info({ liveTrackers: resources.registry.size }, "worker stopped");
    },
  };
}

/** Runs the orphan sweep at start and then every RECOVERY_INTERVAL_MS. */
function startRecoveryLoop(config: Config, queue: AnalysisQueue, resources: WorkerResources, logger: Logger) {
  let running: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    // Finalizes fold their own analyses; this catches any a crashed worker left pending.
    void resources.rollupFolder.foldNow();
    // Next months' llm_calls partitions are made well before they are needed.
    ensureCallPartitions(resources.sql).catch((err: unknown) =>
      logger.warn({ err }, "could not create llm_calls partitions"),
    );
    running = recoverOrphanedAnalyses(
      { sql: resources.sql, queue, logger },
      { minAgeMs: config.recoveryIntervalMs },
    )
      .then(() => pollOrphanedBatches(resources))
      .catch((err: unknown) => logger.warn({ err }, "orphan sweep failed; will retry"));
  };
  sweep();
  const timer = setInterval(sweep, config.recoveryIntervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
