import { startEmulator } from "../../llm/emulator/index.js";
import { GeminiClient } from "../../llm/gemini-client.js";
import { enqueueAnalyses } from "../../queue/enqueue.js";
import { startWorkerRuntime } from "../../queue/worker-runtime.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure } from "../cli-errors.js";
import { demoServices } from "../demo-services.js";
import { createWaitView } from "../progress-view.js";
import { waitForAnalyses } from "../wait-for-analyses.js";
import { reportOutcomes } from "./analyze.js";

export const DEMO_TICKERS = ["RELIANCE", "TCS", "INFY"];

/**
 * The whole product in one process: migrate, the built-in emulator, a worker, three
 * analyses, their summaries. Runs on its own queue prefix so it never feeds a real worker;
 * where PostgreSQL or Redis does not answer at its default address, it does without (demoServices).
 */
export async function demoCommand(ctx: CliContext): Promise<void> {
  const services = await demoServices(ctx.config, ctx.env);
  ctx.afterClose(services.stop);
  if (services.notice) process.stderr.write(`${services.notice}\n`);
  const base = services.config;
  const config = { ...base, queuePrefix: `${base.queuePrefix}-demo` };
  ctx.useConfig(config);
  const emulator = await startEmulator({
    latencyMs: Math.max(base.emulator.latencyMs, 150),
    latencyJitterMs: 100,
  });
  ctx.onClose(() => emulator.close());
  const client = new GeminiClient({
    apiKey: "emulator",
    baseUrl: emulator.url,
    timeoutMs: base.gemini.timeoutMs,
    chartTransport: base.gemini.chartTransport,
    logger: ctx.logger,
  });
  const runtime = await startWorkerRuntime(config, ctx.logger, {
    llmConnection: {
      client,
      endpoint: `built-in emulator (${emulator.url})`,
      emulator,
      close: async () => {},
    },
  });
  ctx.onClose(() => runtime.close(5_000));

  const queue = ctx.queue();
  const queueEvents = await ctx.queueEvents();
  const analyses = await enqueueAnalyses(
    { sql: ctx.sql, queue },
    { tickers: DEMO_TICKERS, model: base.gemini.model },
  );
  process.stderr.write(`demo: analysing ${DEMO_TICKERS.join(", ")} against the built-in Gemini emulator…\n`);
  const outcomes = await waitForAnalyses({
    sql: ctx.sql,
    queue,
    queueEvents,
    ids: analyses.map((a) => a.id),
    pollMs: 500,
    // The line form of `analyze --wait`'s view, on stderr (stdout keeps the three summaries),
    // even on a terminal: the worker in this process logs to stderr too, and its lines would
    // tear a block redrawn in place.
    ...createWaitView({
      sql: ctx.sql,
      analyses,
      out: { write: (text: string) => process.stderr.write(text) },
      maxAttempts: base.gemini.maxAttempts,
    }),
  });
  if (!reportOutcomes(outcomes, false)) throw new CliFailure("demo: not every analysis completed");
}
