/**
 * How close `analyze --estimate` is to the run it predicts, per stage and per analysis, on the
 * emulator with charts on: for each sample ticker and an imported one, one warm-up run (so the
 * stage history exists), then N rounds of estimate-then-run, compared with what was billed.
 * `npx tsx bench/estimate-accuracy.ts [--runs 3] [--cold]`; `--cold` gives each measured run a fresh
 * emulator, so it finds nothing in the implicit cache from earlier runs (only what its own
 * stages leave for final_decision), as a first analysis of new data would.
 */
import os from "node:os";
import { estimateAnalysis } from "../src/analysis/estimate.js";
import { type ExecuteDeps, executeAnalysis } from "../src/analysis/execute-analysis.js";
import { loadConfig } from "../src/config/config.js";
import { picoToNumber } from "../src/ledger/money.js";
import { priceCall } from "../src/ledger/pricing.js";
import { TrackerRegistry } from "../src/ledger/tracker-registry.js";
import { ZERO_USAGE } from "../src/ledger/usage.js";
import { startEmulator } from "../src/llm/emulator/index.js";
import { GeminiClient } from "../src/llm/gemini-client.js";
import { logger } from "../src/logger.js";
import { createPriceProvider } from "../src/market/create-provider.js";
import { insertQueuedAnalysis } from "../src/store/analyses-repo.js";
import { AnalysisWriter } from "../src/store/analysis-writer.js";
import { CallWriter } from "../src/store/call-writer.js";
import { importPriceBars } from "../src/store/price-bars-repo.js";
import { RollupFolder } from "../src/store/rollup-folder.js";
import { barsFromCloses } from "../test/market/fixtures.js";
import { fmt } from "./lib/report.js";
import { createBenchDatabase, uniqueName } from "./lib/services.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg("--runs", 3);
const COLD = process.argv.includes("--cold");
const MODEL = "gemini-2.5-flash";
const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "MSFT", "AAPL", "ACME"];

/** The bench's figures are its output: product code logs warnings only. */
const quiet = logger.child({}, { level: "warn" });

interface StageSample {
  callType: string;
  estInput: number;
  input: number;
  estOutput: number;
  estOutputP95: number;
  output: number;
}

interface AnalysisSample {
  ticker: string;
  estTotal: number;
  estTotalP95: number;
  total: number;
  estCost: number;
  cost: number;
  /** The run's calls priced as if nothing had been read from the implicit cache. */
  costUncached: number;
  inputTokens: number;
  imageTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
}

interface CallRow {
  call_type: string;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  total_tokens: number;
  started_at: Date;
}

/** Signed error of an estimate against the actual, as a fraction of the actual. */
const err = (estimate: number, actual: number) => (actual === 0 ? 0 : (estimate - actual) / actual);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const maxOf = (values: number[]) => values.reduce((a, b) => Math.max(a, b), 0);
const pct = (fraction: number) => `${fmt(fraction * 100, 1)}%`;
const absPct = (values: number[]) => values.map(Math.abs);
const signedPct = (values: number[]) => `${mean(values) >= 0 ? "+" : ""}${pct(mean(values))}`;

async function main() {
  const started = performance.now();
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, ` +
      `Node ${process.versions.node}, load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}; ` +
      `date ${new Date().toISOString()}`,
  );
  console.log(
    `model ${MODEL}, charts on, emulator, ${TICKERS.length} tickers × ${RUNS} rounds after one warm-up run each` +
      (COLD ? "; a fresh emulator (empty implicit cache) for each measured run" : ""),
  );

  const db = await createBenchDatabase();
  let emulator = await startEmulator({});
  const client = (url: string) =>
    new GeminiClient({ apiKey: "bench", baseUrl: `${url}/`, timeoutMs: 15_000 });
  const deps: ExecuteDeps = {
    sql: db.sql,
    callWriter: new CallWriter(db.sql, quiet),
    analysisWriter: new AnalysisWriter(db.sql, quiet),
    rollupFolder: new RollupFolder(db.sql, quiet),
    llm: client(emulator.url),
    // The run's own provider chain: imported bars, then the samples.
    prices: createPriceProvider({ sql: db.sql, logger: quiet, market: loadConfig({}).market }),
    charts: true,
    registry: new TrackerRegistry(),
    leaseMs: 30_000,
    reuseTtlSeconds: 3600,
    batchSettings: { collectMs: 50, pollMinMs: 20, pollMaxMs: 200 },
    createTimeoutMs: 5000,
    retryPolicy: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50, rateLimitDelayMs: 5 },
    logger: quiet,
  };
  const run = async (ticker: string) => {
    const id = uniqueName("est").replaceAll("_", "-");
    await insertQueuedAnalysis(db.sql, { id, ticker, model: MODEL });
    const row = await executeAnalysis(id, deps);
    if (row?.status !== "completed")
      throw new Error(`${ticker}: analysis ${id} ended ${row?.status ?? "null"}`);
    return row;
  };

  const stages: StageSample[] = [];
  const analyses: AnalysisSample[] = [];
  try {
    // An imported ticker with no sample behind it: 260 sessions of a gentle up-trend (as the test).
    const closes = Array.from({ length: 260 }, (_, i) => 100 + i * 0.4 + Math.sin(i / 5) * 3);
    await importPriceBars(db.sql, new Map([["ACME", barsFromCloses(closes)]]), { currency: "USD" });

    for (const ticker of TICKERS) await run(ticker);

    for (const ticker of TICKERS) {
      for (let round = 0; round < RUNS; round++) {
        if (COLD) {
          await emulator.close();
          emulator = await startEmulator({});
          deps.llm = client(emulator.url);
        }
        const estimate = await estimateAnalysis({ ticker, model: MODEL }, { ...deps, charts: true });
        if (!estimate) throw new Error(`${ticker}: no estimate`);
        if (estimate.stages.some((s) => s.outputBasis !== "history")) {
          throw new Error(`${ticker}: a stage was estimated without history`);
        }
        const row = await run(ticker);
        const calls = await db.sql<CallRow[]>`
          SELECT call_type, input_tokens, output_tokens, thinking_tokens, cached_input_tokens, total_tokens, started_at
          FROM llm_calls WHERE analysis_id = ${row.id} AND status = 'success'`;
        let uncachedPico = 0n;
        for (const call of calls) {
          const cost = priceCall(
            MODEL,
            {
              ...ZERO_USAGE,
              inputTokens: call.input_tokens,
              outputTokens: call.output_tokens,
              thinkingTokens: call.thinking_tokens,
              totalTokens: call.total_tokens,
            },
            call.started_at,
          ).costPico;
          uncachedPico += cost ?? 0n;
          const est = estimate.stages.find((s) => s.callType === call.call_type);
          if (!est) throw new Error(`${ticker}: no estimate for ${call.call_type}`);
          stages.push({
            callType: call.call_type,
            estInput: est.inputTokens,
            input: call.input_tokens,
            estOutput: est.outputTokens,
            estOutputP95: est.outputTokensP95,
            output: call.output_tokens,
          });
        }
        if (calls.length !== estimate.stages.length) {
          throw new Error(
            `${ticker}: ${calls.length} successful calls, ${estimate.stages.length} estimated stages`,
          );
        }
        analyses.push({
          ticker,
          estTotal: estimate.totalTokens,
          estTotalP95: estimate.totalTokensP95,
          total: Number(row.total_tokens),
          estCost: Number(estimate.costUsd ?? Number.NaN),
          cost: Number(row.cost_usd ?? Number.NaN),
          costUncached: picoToNumber(uncachedPico),
          inputTokens: Number(row.total_input_tokens),
          imageTokens: estimate.stages.reduce((sum, s) => sum + s.imageTokens, 0),
          outputTokens: Number(row.total_output_tokens),
          cachedInputTokens: Number(row.cached_input_tokens),
        });
      }
    }
  } finally {
    await deps.rollupFolder.close();
    await emulator.close();
    await db.drop();
  }

  console.log("\nPer stage (one row per call, all tickers and rounds)\n");
  console.log(
    "| stage | calls | input: mean abs % error | output vs p50: mean abs % error | output vs p50: max abs % error | output vs p50: signed mean | actual output ≤ p95 |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  const stageOrder = [...new Set(stages.map((s) => s.callType))];
  const stageLine = (name: string, rows: StageSample[]) => {
    const input = absPct(rows.map((s) => err(s.estInput, s.input)));
    const signed = rows.map((s) => err(s.estOutput, s.output));
    const output = absPct(signed);
    const under = rows.filter((s) => s.output <= s.estOutputP95).length;
    console.log(
      `| ${name} | ${rows.length} | ${pct(mean(input))} | ${pct(mean(output))} | ${pct(maxOf(output))} | ${signedPct(signed)} | ` +
        `${under}/${rows.length} (${pct(under / rows.length)}) |`,
    );
  };
  for (const callType of stageOrder)
    stageLine(
      callType,
      stages.filter((s) => s.callType === callType),
    );
  stageLine("**all stages**", stages);

  console.log("\nPer analysis (estimate's total and cost against the run's)\n");
  console.log(
    "| ticker | runs | total tokens: mean abs % error | total tokens: max | total ≤ estimate's p95 | cost: mean abs % error | cost: max | input read from cache | cost vs run priced uncached: mean abs % error |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  const analysisLine = (name: string, rows: AnalysisSample[]) => {
    const total = absPct(rows.map((a) => err(a.estTotal, a.total)));
    const cost = absPct(rows.map((a) => err(a.estCost, a.cost)));
    const uncached = absPct(rows.map((a) => err(a.estCost, a.costUncached)));
    const under = rows.filter((a) => a.total <= a.estTotalP95).length;
    const cached =
      rows.reduce((s, a) => s + a.cachedInputTokens, 0) / rows.reduce((s, a) => s + a.inputTokens, 0);
    console.log(
      `| ${name} | ${rows.length} | ${pct(mean(total))} | ${pct(maxOf(total))} | ${under}/${rows.length} | ` +
        `${pct(mean(cost))} | ${pct(maxOf(cost))} | ${pct(cached)} | ${pct(mean(uncached))} |`,
    );
  };
  for (const ticker of TICKERS)
    analysisLine(
      ticker,
      analyses.filter((a) => a.ticker === ticker),
    );
  analysisLine("**overall**", analyses);

  const avg = (pick: (a: AnalysisSample) => number) =>
    Math.round(mean(analyses.map(pick))).toLocaleString("en-US");
  console.log(
    `\nan analysis here: ${avg((a) => a.total)} tokens, ${avg((a) => a.inputTokens)} input ` +
      `(${avg((a) => a.imageTokens)} of them chart images) and ${avg((a) => a.outputTokens)} output (thinking included)`,
  );
  console.log(
    `\nsigned mean error (estimate − actual): total tokens ${signedPct(analyses.map((a) => err(a.estTotal, a.total)))}, ` +
      `cost ${signedPct(analyses.map((a) => err(a.estCost, a.cost)))}, ` +
      `cost vs uncached ${signedPct(analyses.map((a) => err(a.estCost, a.costUncached)))}`,
  );
  console.log(
    "The estimate prices every input token at the full input rate (it assumes no implicit caching); " +
      "the run is billed the cached rate for what Gemini (here the emulator) reads from its implicit cache, " +
      "so the estimate's cost sits above the run's by about the caching saving.",
  );
  console.log(
    `\n${analyses.length} analyses estimated and run in ${fmt((performance.now() - started) / 1000, 1)} s; database dropped`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
