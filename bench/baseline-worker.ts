/**
 * The baseline of bench/ledger-overhead.ts: plain BullMQ jobs that make the pipeline's six
 * Gemini calls (five in parallel, then final_decision over their answers) with the SDK, to
 * the same emulator and with the same prompts, but with no ledger, no Postgres and no retries.
 * Env: REDIS_URL, QUEUE_PREFIX, GEMINI_BASE_URL, GEMINI_API_KEY, WORKER_CONCURRENCY,
 * BASELINE_BRIEF (per-job | cached). Prints "baseline worker ready"; SIGTERM closes it.
 */
import { type GenerativeModel, GoogleGenerativeAI } from "@google/generative-ai";
import { type Job, Worker } from "bullmq";
import { Redis } from "ioredis";
import { BASELINE_QUEUE, type BaselineJobData } from "./lib/enqueue.js";
import {
  finalStagePrompt,
  marketBrief,
  type StagePrompt,
  SYSTEM_INSTRUCTION,
  stagePrompts,
} from "./lib/prompts.js";

const env = process.env;
const sdk = new GoogleGenerativeAI(env.GEMINI_API_KEY ?? "baseline");
const models = new Map<string, GenerativeModel>();
const briefs = new Map<string, Promise<string>>();

function model(name: string): GenerativeModel {
  let m = models.get(name);
  if (!m) {
    m = sdk.getGenerativeModel({ model: name }, { baseUrl: env.GEMINI_BASE_URL });
    models.set(name, m);
  }
  return m;
}

/** Same request as src/llm/gemini-client.ts sends (system instruction, JSON mode, attribution headers). */
async function call(modelName: string, jobId: string, { stage, prompt }: StagePrompt): Promise<string> {
  const result = await model(modelName).generateContent(
    {
      systemInstruction: SYSTEM_INSTRUCTION,
      contents: [{ role: "user", parts: [{ text: prompt }] }],
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

function briefFor(ticker: string): Promise<string> {
  if (env.BASELINE_BRIEF !== "cached") return marketBrief(ticker);
  let brief = briefs.get(ticker);
  if (!brief) {
    brief = marketBrief(ticker);
    briefs.set(ticker, brief);
  }
  return brief;
}

async function processJob(job: Job<BaselineJobData>): Promise<{ action: string }> {
  const { ticker, model: modelName } = job.data;
  const jobId = job.id ?? "baseline";
  const brief = await briefFor(ticker);
  const prompts = stagePrompts(brief);
  const texts = await Promise.all(prompts.map((p) => call(modelName, jobId, p)));
  const results = prompts.map((p, i) => ({ callType: p.stage.callType, text: texts[i] ?? null }));
  const decision = JSON.parse(await call(modelName, jobId, finalStagePrompt(brief, results))) as {
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
