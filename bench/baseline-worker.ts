/**
 * The baseline of bench/ledger-overhead.ts: plain BullMQ jobs that make the pipeline's six
 * Gemini calls (five in parallel, then final_decision over their answers) with the SDK, to
 * the same emulator with the same requests (prompts, charts, JSON mode, headers), but
 * with no ledger, no Postgres and no retries.
 * Env: REDIS_URL, QUEUE_PREFIX, GEMINI_BASE_URL, GEMINI_API_KEY, WORKER_CONCURRENCY,
 * CHARTS (on | off, as the worker's), CHART_TRANSPORT (files | inline, as the worker's: files
 * uploads each distinct chart once per process and references it), BASELINE_INPUTS (per-job |
 * cached: build the market brief and prompts in every job as the pipeline does, or once per ticker),
 * BASELINE_LEDGER (none | per-call | grouped, with DATABASE_URL: the reference ledger
 * designs on top, lib/reference-ledger.ts; the jobs' ids are then their stock_analyses rows' ids).
 * Prints "baseline worker ready"; SIGTERM closes it.
 */
import { type GenerativeModel, GoogleGenerativeAI } from "@google/generative-ai";
import { GoogleAIFileManager } from "@google/generative-ai/server";
import { type Job, Worker } from "bullmq";
import { Redis } from "ioredis";
import { TokenTracker } from "../src/ledger/token-tracker.js";
import { BASELINE_QUEUE, type BaselineJobData } from "./lib/enqueue.js";
import {
  type AnalysisInputs,
  analysisInputs,
  finalRequest,
  type StageRequest,
  SYSTEM_INSTRUCTION,
  sdkParts,
} from "./lib/prompts.js";
import { REFERENCE_LEDGERS, type ReferenceLedger, ReferenceLedgerWriter } from "./lib/reference-ledger.js";

const env = process.env;
const charts = env.CHARTS !== "off";
const uploadCharts = charts && env.CHART_TRANSPORT !== "inline";
const sdk = new GoogleGenerativeAI(env.GEMINI_API_KEY ?? "baseline");
const files = new GoogleAIFileManager(env.GEMINI_API_KEY ?? "baseline", { baseUrl: env.GEMINI_BASE_URL });
const models = new Map<string, GenerativeModel>();
const cachedInputs = new Map<string, Promise<AnalysisInputs>>();
/** digest → uri of its upload: each distinct chart is uploaded once per process, as the adapter does. */
const uploads = new Map<string, Promise<string>>();
const ledgerDesign = env.BASELINE_LEDGER ?? "none";
if (ledgerDesign !== "none" && !(REFERENCE_LEDGERS as readonly string[]).includes(ledgerDesign)) {
  process.stderr.write(`BASELINE_LEDGER must be none or ${REFERENCE_LEDGERS.join(" or ")}\n`);
  process.exit(2);
}
const ledger =
  ledgerDesign === "none"
    ? null
    : new ReferenceLedgerWriter(
        env.DATABASE_URL ?? "",
        ledgerDesign as ReferenceLedger,
        Number(env.WORKER_CONCURRENCY ?? 64),
      );

function model(name: string): GenerativeModel {
  let m = models.get(name);
  if (!m) {
    m = sdk.getGenerativeModel({ model: name }, { baseUrl: env.GEMINI_BASE_URL });
    models.set(name, m);
  }
  return m;
}

function fileUri(image: { mimeType: string; data: string; digest: string }): Promise<string> {
  let uri = uploads.get(image.digest);
  if (!uri) {
    uri = files
      .uploadFile(Buffer.from(image.data, "base64"), { mimeType: image.mimeType })
      .then((response) => response.file.uri);
    uploads.set(image.digest, uri);
  }
  return uri;
}

async function fileUris(parts: StageRequest["parts"]): Promise<Map<string, string>> {
  const uris = new Map<string, string>();
  if (!uploadCharts) return uris;
  for (const image of parts.images ?? []) {
    if (image.digest !== undefined) uris.set(image.digest, await fileUri({ ...image, digest: image.digest }));
  }
  return uris;
}

async function call(
  modelName: string,
  jobId: string,
  { stage, parts }: StageRequest,
  tracker: TokenTracker | null,
): Promise<string> {
  const startedAt = new Date();
  const t0 = performance.now();
  const result = await model(modelName).generateContent(
    {
      systemInstruction: SYSTEM_INSTRUCTION,
      contents: [{ role: "user", parts: sdkParts(parts, await fileUris(parts)) }],
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
  const text = result.response.text();
  if (ledger && tracker) {
    await ledger.recordCall(tracker, {
      callType: stage.callType,
      startedAt,
      durationMs: Math.round(performance.now() - t0),
      inputChars: SYSTEM_INSTRUCTION.length + parts.prefix.length + parts.suffix.length,
      text,
      usageMetadata: result.response.usageMetadata as Record<string, unknown> | undefined,
    });
  }
  return text;
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
  const tracker = ledger ? new TokenTracker(jobId, ticker, modelName) : null;
  const texts = await Promise.all(stages.map((s) => call(modelName, jobId, s, tracker)));
  const results = stages.map((s, i) => ({ callType: s.stage.callType, text: texts[i] ?? null }));
  const decision = JSON.parse(await call(modelName, jobId, finalRequest(brief, results), tracker)) as {
    action: string;
  };
  if (ledger && tracker) await ledger.finalize(tracker, decision);
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
await ledger?.close();
await connection.quit();
process.exit(0);
