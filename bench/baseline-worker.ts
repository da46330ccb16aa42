/**
 * The baseline of bench/ledger-overhead.ts: plain BullMQ jobs that make the pipeline's six
 * Gemini calls (five in parallel, then final_decision over their answers) with the SDK, to
 * the same emulator with the same requests (prompts, inline charts, JSON mode, headers), but
 * with no ledger, no Postgres and no retries.
 * Env: REDIS_URL, QUEUE_PREFIX, GEMINI_BASE_URL, GEMINI_API_KEY, WORKER_CONCURRENCY,
 * CHARTS (on | off, as the worker's), BASELINE_INPUTS (per-job | cached: build the market
 * brief and prompts in every job as the pipeline does, or once per ticker).
 * Prints "baseline worker ready"; SIGTERM closes it.
 */
import { type GenerativeModel, GoogleGenerativeAI } from "@google/generative-ai";
import { type Job, Worker } from "bullmq";
import { Redis } from "ioredis";
import { BASELINE_QUEUE, type BaselineJobData } from "./lib/enqueue.js";
import {
  type AnalysisInputs,
  analysisInputs,
  finalRequest,
  type StageRequest,
  SYSTEM_INSTRUCTION,
  sdkParts,
} from "./lib/prompts.js";

const env = process.env;
const charts = env.CHARTS !== "off";
const sdk = new GoogleGenerativeAI(env.GEMINI_API_KEY ?? "baseline");
const models = new Map<string, GenerativeModel>();
const cachedInputs = new Map<string, Promise<AnalysisInputs>>();

function model(name: string): GenerativeModel {
  let m = models.get(name);
  if (!m) {
    m = sdk.getGenerativeModel({ model: name }, { baseUrl: env.GEMINI_BASE_URL });
    models.set(name, m);
  }
  return m;
}

async function call(modelName: string, jobId: string, { stage, parts }: StageRequest): Promise<string> {
  const result = await model(modelName).generateContent(
    {
      systemInstruction: SYSTEM_INSTRUCTION,
      contents: [{ role: "user", parts: sdkParts(parts) }],
      generationConfig: stage.json ? { responseMimeType: "application/json" } : {},
    },
    {
      customHeaders: {
        "x-stock-ledger-analysis-id": jobId,
        "x-stock-ledger-call-type": stage.callType,
        "x-stock-ledger-attempt": "1",
      },
    },
  );
  return result.response.text();
}

function inputsFor(ticker: string): Promise<AnalysisInputs> {
  if (env.BASELINE_INPUTS !== "cached") return analysisInputs(ticker, charts);
  let inputs = cachedInputs.get(ticker);
  if (!inputs) {
    inputs = analysisInputs(ticker, charts);
    cachedInputs.set(ticker, inputs);
  }
  return inputs;
}

async function processJob(job: Job<BaselineJobData>): Promise<{ action: string }> {
  const { ticker, model: modelName } = job.data;
  const jobId = job.id ?? "baseline";
  const { brief, stages } = await inputsFor(ticker);
  const texts = await Promise.all(stages.map((s) => call(modelName, jobId, s)));
  const results = stages.map((s, i) => ({ callType: s.stage.callType, text: texts[i] ?? null }));
  const decision = JSON.parse(await call(modelName, jobId, finalRequest(brief, results))) as {
    action: string;
  };
  return { action: decision.action };
}

const connection = new Redis(env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
const worker = new Worker<BaselineJobData>(BASELINE_QUEUE, processJob, {
  connection,
  prefix: env.QUEUE_PREFIX ?? "bench-baseline",
  concurrency: Number(env.WORKER_CONCURRENCY ?? 64),
});
worker.on("failed", (job, error) =>
  process.stderr.write(`baseline job ${job?.id} failed: ${error.message}\n`),
);
await worker.waitUntilReady();
process.stdout.write("baseline worker ready\n");
await new Promise<void>((resolve) => {
  process.once("SIGTERM", resolve);
  process.once("SIGINT", resolve);
});
await worker.close();
await connection.quit();
process.exit(0);
