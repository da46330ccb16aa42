/**
 * Ledger core: TokenTracker.recordCall per second, in process, with records
 * built beforehand from real emulator responses (usageMetadata through normalizeUsage and
 * priceCall, as call-runner.ts builds them). Also what breakdown() and totals() cost.
 * `npx tsx bench/tracker-microbench.ts [--calls 3000000]`
 */
import type { CallRecord } from "../src/ledger/call-record.js";
import { priceCall } from "../src/ledger/pricing.js";
import { TokenTracker } from "../src/ledger/token-tracker.js";
import { normalizeUsage } from "../src/ledger/usage.js";
import { startEmulator } from "../src/llm/emulator/index.js";
import { GeminiClient } from "../src/llm/gemini-client.js";
import { MODEL } from "./lib/enqueue.js";
import { loadLine } from "./lib/proc.js";
import { adapterRequest, analysisInputs, finalRequest, SYSTEM_INSTRUCTION } from "./lib/prompts.js";
import { type BenchResult, fmt, isMain, median, numberArg, printResult, row } from "./lib/report.js";

export interface TrackerOptions {
  /** recordCall calls per timed round. */
  calls: number;
}

export const TRACKER_DEFAULTS: TrackerOptions = { calls: 3_000_000 };
const ROUNDS = 7;

/** The six records of one real analysis: usage the emulator billed, priced as the product does. */
async function realisticRecords(): Promise<CallRecord[]> {
  const emulator = await startEmulator({ latencyMs: 0 });
  try {
    const client = new GeminiClient({ apiKey: "bench", baseUrl: emulator.url, timeoutMs: 10_000 });
    const { brief, stages } = await analysisInputs("RELIANCE", true);
    const final = finalRequest(
      brief,
      stages.map((s) => ({ callType: s.stage.callType, text: "x".repeat(900) })),
    );
    const records: CallRecord[] = [];
    for (const request of [...stages, final]) {
      const { stage } = request;
      const sent = adapterRequest(request, { analysisId: "an_bench", model: MODEL });
      const result = await client.generate(sent);
      const prompt = sent.prompt;
      const inputChars = SYSTEM_INSTRUCTION.length + prompt.length;
      const usage = normalizeUsage(result.usageMetadata, {
        received: true,
        inputChars,
        outputChars: result.text.length,
      });
      records.push({
        callType: stage.callType,
        attempt: 1,
        model: MODEL,
        status: "success",
        usage,
        cost: priceCall(MODEL, usage),
        errorType: null,
        errorMessage: null,
        startedAt: new Date(),
        durationMs: 850,
        inputChars,
        outputChars: result.text.length,
        rawUsage: result.usageMetadata ?? null,
        inputHash: null,
      });
    }
    return records;
  } finally {
    await emulator.close();
  }
}

/** Runs `fn` ROUNDS times after a warm-up; the median rate in operations per second. */
function rate(ops: number, fn: () => void): number {
  fn();
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    rates.push((ops * 1e9) / Number(process.hrtime.bigint() - t0));
  }
  return median(rates);
}

export async function runTrackerMicrobench(options: TrackerOptions): Promise<BenchResult> {
  const records = await realisticRecords();
  const perAnalysis = records.length;
  const analyses = Math.max(1, Math.floor(options.calls / perAnalysis));
  const load = loadLine();
  let sink = 0;

  // One tracker per analysis, its six calls recorded: the worker's pattern.
  const fresh = rate(analyses * perAnalysis, () => {
    for (let i = 0; i < analyses; i++) {
      const tracker = new TokenTracker("an_bench", "RELIANCE", MODEL);
      for (const record of records) tracker.recordCall(record);
      sink += tracker.callTypes().length;
    }
  });
  // The same six keys recorded again and again: every call replaces a stored one (resume path).
  const replacing = new TokenTracker("an_bench", "RELIANCE", MODEL);
  const replace = rate(analyses * perAnalysis, () => {
    for (let i = 0; i < analyses; i++) for (const record of records) replacing.recordCall(record);
  });
  // Retries: each stage needs three attempts (two failed), 18 records per analysis.
  const retried = records.flatMap((record) =>
    [1, 2, 3].map((attempt) => ({
      ...record,
      attempt,
      status: attempt < 3 ? ("failure" as const) : record.status,
      errorType: attempt < 3 ? "server_error" : null,
    })),
  );
  const retry = rate(Math.floor(analyses / 3) * retried.length, () => {
    for (let i = 0; i < Math.floor(analyses / 3); i++) {
      const tracker = new TokenTracker("an_bench", "RELIANCE", MODEL);
      for (const record of retried) tracker.recordCall(record);
      sink += tracker.callTypes().length;
    }
  });
  const full = new TokenTracker("an_bench", "RELIANCE", MODEL);
  for (const record of records) full.recordCall(record);
  const finalizeOps = Math.max(1000, Math.floor(analyses / 10));
  const breakdownRate = rate(finalizeOps, () => {
    for (let i = 0; i < finalizeOps; i++) sink += Object.keys(full.breakdown()).length;
  });
  const totalsRate = rate(finalizeOps, () => {
    for (let i = 0; i < finalizeOps; i++) sink += full.totals().calls;
  });
  if (sink === 42) console.log("");
  return {
    name: "5. Ledger core (TokenTracker, in process)",
    rows: [
      row({
        metric: "recordCall/s, one tracker per analysis (6 calls)",
        value: fmt(fresh, 0),
        ratio: fmt(fresh / 1_000_000, 2),
        target: "≥ 1,000,000/s",
        pass: fresh >= 1_000_000,
      }),
      row({ metric: "recordCall/s, replacing stored attempts", value: fmt(replace, 0) }),
      row({ metric: "recordCall/s, with retries (18 calls per tracker)", value: fmt(retry, 0) }),
      row({ metric: "breakdown() µs per analysis (6 calls)", value: fmt(1e6 / breakdownRate, 2) }),
      row({ metric: "totals() µs (structuredClone)", value: fmt(1e6 / totalsRate, 2) }),
    ],
    notes: [
      `${(analyses * perAnalysis).toLocaleString("en-US")} calls per timed round, median of ${ROUNDS} rounds after a warm-up; ${load}`,
    ],
  };
}

if (isMain(import.meta.url)) {
  printResult(
    await runTrackerMicrobench({ calls: numberArg(process.argv, "calls", TRACKER_DEFAULTS.calls) }),
  );
  process.exit(0);
}
