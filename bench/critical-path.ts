/**
 * Critical path: emulator latency L = 300 ms, one analysis at a time through
 * an idle worker, end to end (enqueue → job completed), against the six stages run one after
 * another through the product's own adapter (GeminiClient) with the same prompts.
 * The product has no sequential mode, so "sequential" is the adapter called six times in a row
 * from this process: it has no ledger, queue or Postgres work in it, which flatters it
 * slightly, so the speed-up reported is a lower bound. The same adapter in the pipeline's
 * shape (five in parallel, then one) is shown as the floor the product could reach.
 * `npx tsx bench/critical-path.ts [--repeats 5] [--latency 300]`
 */
import type { Job } from "bullmq";
import { GeminiClient } from "../src/llm/gemini-client.js";
import { enqueueAnalyses } from "../src/queue/enqueue.js";
import type { AnalysisQueueEvents } from "../src/queue/queue-backend.js";
import { MODEL } from "./lib/enqueue.js";
import { loadLine } from "./lib/proc.js";
import { type BenchProcess, startEmulatorProcess, startWorkerProcess } from "./lib/processes.js";
import { adapterRequest, analysisInputs, finalRequest, type StageRequest } from "./lib/prompts.js";
import { type BenchResult, fmt, isMain, median, numberArg, printResult, row } from "./lib/report.js";
import { createBenchDatabase, dropQueueKeys, openBenchQueue, uniqueName } from "./lib/services.js";

export interface CriticalPathOptions {
  repeats: number;
  latencyMs: number;
}

export const CRITICAL_PATH_DEFAULTS: CriticalPathOptions = { repeats: 5, latencyMs: 300 };

const TICKER = "RELIANCE";
const log = (line: string) => process.stderr.write(`critical-path: ${line}\n`);

interface ProductTiming {
  e2eMs: number;
  /** Phases from the job's and the calls' own timestamps. */
  pickupMs: number;
  beforeStagesMs: number;
  stagesMs: number;
  gapMs: number;
  finalMs: number;
  finalizeMs: number;
}

async function timeOneAnalysis(
  deps: Parameters<typeof enqueueAnalyses>[0],
  queueEvents: AnalysisQueueEvents,
): Promise<ProductTiming> {
  const t0 = Date.now();
  const [enqueued] = await enqueueAnalyses(deps, { tickers: [TICKER], model: MODEL });
  if (!enqueued) throw new Error("nothing enqueued");
  const job = (await deps.queue.getJob(enqueued.id)) as Job | undefined;
  if (!job) throw new Error(`job ${enqueued.id} not found`);
  await job.waitUntilFinished(queueEvents, 30_000);
  const e2eMs = Date.now() - t0;
  const done = (await deps.queue.getJob(enqueued.id)) as Job;
  const calls = await deps.sql<{ call_type: string; started_at: Date; duration_ms: number }[]>`
    SELECT call_type, started_at, duration_ms FROM llm_calls WHERE analysis_id = ${enqueued.id}`;
  const stages = calls.filter((c) => c.call_type !== "final_decision");
  const final = calls.find((c) => c.call_type === "final_decision");
  if (!final || stages.length !== 5) throw new Error(`analysis ${enqueued.id} has ${calls.length} calls`);
  const stageStart = Math.min(...stages.map((c) => c.started_at.getTime()));
  const stageEnd = Math.max(...stages.map((c) => c.started_at.getTime() + c.duration_ms));
  const finalStart = final.started_at.getTime();
  const finalEnd = finalStart + final.duration_ms;
  return {
    e2eMs,
    pickupMs: (done.processedOn ?? 0) - done.timestamp,
    beforeStagesMs: stageStart - (done.processedOn ?? 0),
    stagesMs: stageEnd - stageStart,
    gapMs: finalStart - stageEnd,
    finalMs: final.duration_ms,
    finalizeMs: (done.finishedOn ?? 0) - finalEnd,
  };
}

/** The six calls through the product's adapter, in the pipeline's shape or one after another. */
async function adapterRun(client: GeminiClient, shape: "parallel" | "sequential"): Promise<number> {
  const t0 = performance.now();
  const { brief, stages } = await analysisInputs(TICKER, true);
  const ids = { analysisId: uniqueName("cp").replaceAll("_", "-"), model: MODEL };
  const call = async (request: StageRequest) => (await client.generate(adapterRequest(request, ids))).text;
  const texts: string[] = [];
  if (shape === "parallel") texts.push(...(await Promise.all(stages.map(call))));
  else for (const s of stages) texts.push(await call(s));
  const results = stages.map((s, i) => ({ callType: s.stage.callType, text: texts[i] ?? null }));
  JSON.parse(await call(finalRequest(brief, results)));
  return performance.now() - t0;
}

export async function runCriticalPath(options: CriticalPathOptions): Promise<BenchResult> {
  const started = Date.now();
  const L = options.latencyMs;
  const emulator = await startEmulatorProcess(L);
  const db = await createBenchDatabase();
  const prefix = uniqueName("slcp");
  const opened = openBenchQueue(db.url, prefix);
  const { queue } = opened;
  const queueEvents = opened.queueEvents();
  let worker: BenchProcess | null = null;
  const product: ProductTiming[] = [];
  const sequential: number[] = [];
  const parallel: number[] = [];
  const load = loadLine();
  try {
    await queueEvents.waitUntilReady();
    worker = await startWorkerProcess(
      { databaseUrl: db.url, queuePrefix: prefix, emulatorUrl: emulator.url, concurrency: 8 },
      async () => (await queue.getWorkersCount()) > 0,
    );
    const client = new GeminiClient({ apiKey: "bench", baseUrl: emulator.url, timeoutMs: 30_000 });
    // Warm-up (JIT, connections, the sample data's parse cache), not counted.
    const cold = await timeOneAnalysis({ sql: db.sql, queue }, queueEvents);
    await adapterRun(client, "parallel");
    await adapterRun(client, "sequential");
    for (let i = 0; i < options.repeats; i++) {
      product.push(await timeOneAnalysis({ sql: db.sql, queue }, queueEvents));
      sequential.push(await adapterRun(client, "sequential"));
      parallel.push(await adapterRun(client, "parallel"));
    }
    const p = (key: keyof ProductTiming) => median(product.map((t) => t[key]));
    const e2e = p("e2eMs");
    const seq = median(sequential);
    const speedup = seq / e2e;
    log(
      `stock-ledger e2e ms: ${product.map((t) => t.e2eMs).join(", ")}; sequential ms: ${sequential.map((s) => fmt(s, 0)).join(", ")}`,
    );
    return {
      name: `2. Critical path (L = ${L} ms, one analysis, median of ${options.repeats})`,
      rows: [
        row({
          metric: "wall ms, enqueue → completed",
          baseline: `${fmt(median(parallel), 0)} (adapter only)`,
          value: fmt(e2e, 0),
          ratio: fmt(e2e / L, 2),
          target: `≤ 2L + 100 = ${2 * L + 100} ms`,
          pass: e2e <= 2 * L + 100,
        }),
        row({
          metric: "speed-up vs six stages one after another",
          baseline: `${fmt(seq, 0)} ms sequential`,
          value: `${fmt(e2e, 0)} ms`,
          ratio: `${fmt(speedup, 2)}×`,
          target: "≥ 2.5×",
          pass: speedup >= 2.5,
        }),
      ],
      notes: [
        `phases (median ms): job pickup ${fmt(p("pickupMs"), 0)}, claim + market brief + resume check ${fmt(p("beforeStagesMs"), 0)}, ` +
          `five stages ${fmt(p("stagesMs"), 0)}, gap to final_decision ${fmt(p("gapMs"), 0)}, final_decision ${fmt(p("finalMs"), 0)}, ` +
          `finalize + job completion ${fmt(p("finalizeMs"), 0)}`,
        `first (cold) analysis on a fresh worker: ${cold.e2eMs} ms, not counted`,
        "baseline column: the adapter alone in the pipeline's shape (5 parallel + 1), no ledger, no queue: the floor",
        `took ${fmt((Date.now() - started) / 1000, 0)} s; ${load} at the start`,
      ],
    };
  } finally {
    await worker?.stop("SIGTERM");
    await opened.close();
    await emulator.stop("SIGTERM");
    await db.drop();
    await dropQueueKeys(prefix);
  }
}

if (isMain(import.meta.url)) {
  printResult(
    await runCriticalPath({
      repeats: numberArg(process.argv, "repeats", CRITICAL_PATH_DEFAULTS.repeats),
      latencyMs: numberArg(process.argv, "latency", CRITICAL_PATH_DEFAULTS.latencyMs),
    }),
  );
  process.exit(0);
}
