import { startMetricsServer } from "../../metrics/metrics-server.js";
import { startWorkerRuntime } from "../../queue/worker-runtime.js";
import type { CliContext } from "../cli-context.js";
import { parseConcurrency, parsePort } from "../input.js";

/** Runs until SIGTERM/SIGINT, then drains in-flight analyses and exits. */
export async function workerCommand(
  ctx: CliContext,
  options: { concurrency?: string; metricsPort?: string },
): Promise<void> {
  const concurrency = options.concurrency === undefined ? undefined : parseConcurrency(options.concurrency);
  const metricsPort = options.metricsPort === undefined ? undefined : parsePort(options.metricsPort);
  const runtime = await startWorkerRuntime(ctx.config, ctx.logger, concurrency ? { concurrency } : {});
  const metrics = metricsPort === undefined ? null : await startMetricsServer({ port: metricsPort });
  if (metrics) ctx.logger.info({ url: metrics.url }, "worker metrics served");
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      ctx.logger.info({ signal }, "shutting down: draining in-flight analyses");
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  await runtime.close();
  await metrics?.close();
}
