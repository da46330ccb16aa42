/**
 * Cost per analysis in batch mode against standard, in one run: the same 20 tickers (synthetic
 * daily bars, imported) analysed four ways by a real worker (BullMQ, Postgres) in this process,
 * each against a fresh built-in emulator (empty implicit cache):
 *   standard (synchronous)                 synchronous calls at the standard rates,
 *   standard, implicit cache off           the same with the emulator's implicit cache off,
 *   batch, implicit cache off              the Batch API with it off (against the row above:
 *                                          the rates alone),
 *   batch + implicit cache                 the Batch API with implicit caching, as Gemini bills
 *                                          it (against the first row).
 * Prints PASS/FAIL against the target (batch ≤ 0.5× standard per analysis). Each analysis' cost
 * must equal the sum of its llm_calls costs, or the bench fails (exit 1).
 * `npm run bench:batch [-- --latency 300 --batch-delay 2000]`; BATCH_COLLECT_MS,
 * BATCH_POLL_MIN_MS, BATCH_POLL_MAX_MS and WORKER_CONCURRENCY are read from the environment.
 */
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { type Config, loadConfig } from "../src/config/config.js";
import { formatUsd, type Picodollars, usdToPico } from "../src/ledger/money.js";
import { startEmulator } from "../src/llm/emulator/index.js";
import { GeminiClient } from "../src/llm/gemini-client.js";
import { logger } from "../src/logger.js";
import type { PriceBar } from "../src/market/types.js";
import { enqueueAnalyses } from "../src/queue/enqueue.js";
import { openQueueBackend } from "../src/queue/queue-backend.js";
import { startWorkerRuntime } from "../src/queue/worker-runtime.js";
import type { Sql } from "../src/store/database.js";
import { importPriceBars } from "../src/store/price-bars-repo.js";
import { hostSpeedMs } from "./lib/host-speed.js";
import { fmt, median, numberArg } from "./lib/report.js";
import { createBenchDatabase, dropQueueKeys, REDIS_URL, uniqueName } from "./lib/services.js";

const LATENCY_MS = numberArg(process.argv, "latency", 300);
const BATCH_DELAY_MS = numberArg(process.argv, "batch-delay", 2000);
const MODEL = "gemini-2.5-flash";
const TICKERS = Array.from({ length: 20 }, (_, i) => `SYN${String(i + 1).padStart(2, "0")}`);
/** Analysed once in standard and once in batch mode first, so code loading and first renders are not timed. */
const WARM_UP_TICKER = "SYNWARM";
const TARGET_RATIO = 0.5;

/** The bench's figures are its output: product code logs warnings only. */
const quiet = logger.child({}, { level: "warn" });

interface Way {
  label: string;
  batch: boolean;
  implicitCache: boolean;
  /** The standard way it is compared with: caching alike, so the ratio is the rates' doing. */
  baseline: string;
}

const STANDARD = "standard (synchronous)";
const STANDARD_UNCACHED = "standard, implicit cache off";
const WAYS: Way[] = [
  { label: STANDARD, batch: false, implicitCache: true, baseline: STANDARD },
  { label: STANDARD_UNCACHED, batch: false, implicitCache: false, baseline: STANDARD_UNCACHED },
  { label: "batch, implicit cache off", batch: true, implicitCache: false, baseline: STANDARD_UNCACHED },
  { label: "batch + implicit cache", batch: true, implicitCache: true, baseline: STANDARD },
];

interface WayResult {
  way: Way;
  analyses: number;
  costPico: Picodollars;
  tokens: number;
  input: number;
  cached: number;
  output: number;
  wallMs: number;
  latenciesMs: number[];
  batches: number;
}

/** 260 sessions of a seeded random walk per ticker, so every market brief differs. */
function syntheticBars(seed: number): PriceBar[] {
  let state = seed * 2654435761;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const bars: PriceBar[] = [];
  const day = new Date("2025-01-06T00:00:00Z");
  let close = 50 + seed * 17;
  while (bars.length < 260) {
    if (day.getUTCDay() !== 0 && day.getUTCDay() !== 6) {
      const open = close;
      close = Math.max(1, open * (1 + (random() - 0.48) * 0.04));
      const round = (value: number) => Math.round(value * 100) / 100;
      bars.push({
        date: day.toISOString().slice(0, 10),
        open: round(open),
        high: round(Math.max(open, close) * (1 + random() * 0.01)),
        low: round(Math.min(open, close) * (1 - random() * 0.01)),
        close: round(close),
        volume: Math.round(100_000 + random() * 900_000),
      });
    }
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return bars;
}

async function waitUntilEnded(sql: Sql, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stock_analyses
      WHERE id = ANY(${ids}) AND status NOT IN ('queued', 'running')`;
    if (row?.n === ids.length) return;
    if (Date.now() > deadline) throw new Error(`${ids.length - (row?.n ?? 0)} analyses did not end in time`);
    await sleep(50);
  }
}

interface AnalysisRow {
  id: string;
  status: string;
  cost_usd: string | null;
  calls_cost_usd: string;
  unpriced: number;
  wrong_tier: number;
  total_tokens: string;
  total_input_tokens: string;
  cached_input_tokens: string;
  total_output_tokens: string;
  /** From enqueue (the row's creation) to completion. */
  latency_ms: number;
}

/**
 * The ledger of one way's analyses, checked: every analysis completed, its cost equal to the sum
 * of its calls' costs, every call priced and served in the way's tier.
 */
async function ledgerOf(sql: Sql, ids: string[], way: Way): Promise<AnalysisRow[]> {
  const tier = way.batch ? "batch" : "standard";
  const rows = await sql<AnalysisRow[]>`
    SELECT a.id, a.status, a.cost_usd::text,
           COALESCE(sum(c.cost_usd), 0)::text AS calls_cost_usd,
           count(*) FILTER (WHERE c.analysis_id IS NOT NULL AND c.cost_usd IS NULL)::int AS unpriced,
           count(*) FILTER (WHERE c.analysis_id IS NOT NULL AND c.service_tier <> ${tier})::int AS wrong_tier,
           a.total_tokens::text, a.total_input_tokens::text, a.cached_input_tokens::text,
           a.total_output_tokens::text,
           (extract(epoch FROM a.completed_at - a.created_at) * 1000)::float8 AS latency_ms
    FROM stock_analyses a LEFT JOIN llm_calls c ON c.analysis_id = a.id
    WHERE a.id = ANY(${ids})
    GROUP BY a.id`;
  const problems: string[] = [];
  for (const row of rows) {
    if (row.status !== "completed") problems.push(`${row.id} ended ${row.status}`);
    if (row.cost_usd === null) problems.push(`${row.id} has no cost`);
    else if (usdToPico(row.cost_usd) !== usdToPico(row.calls_cost_usd)) {
      problems.push(`${row.id} costs ${row.cost_usd}, its llm_calls sum to ${row.calls_cost_usd}`);
    }
    if (row.unpriced > 0) problems.push(`${row.id} has ${row.unpriced} unpriced calls`);
    if (row.wrong_tier > 0) problems.push(`${row.id} has ${row.wrong_tier} calls not served as ${tier}`);
  }
  if (rows.length !== ids.length) problems.push(`${ids.length} analyses enqueued, ${rows.length} found`);
  if (problems.length > 0) throw new Error(`${way.label}: ledger check failed:\n  ${problems.join("\n  ")}`);
  return rows;
}

async function runWay(
  db: { url: string; sql: Sql },
  way: Way,
  base: NodeJS.ProcessEnv,
  tickers: string[],
): Promise<WayResult> {
  const prefix = uniqueName("bench_batch");
  const config: Config = loadConfig({ ...base, DATABASE_URL: db.url, QUEUE_PREFIX: prefix });
  const emulator = await startEmulator({
    latencyMs: LATENCY_MS,
    batchDelayMs: BATCH_DELAY_MS,
    implicitCache: way.implicitCache,
  });
  const client = new GeminiClient({
    apiKey: "bench",
    baseUrl: emulator.url,
    timeoutMs: config.gemini.timeoutMs,
    chartTransport: config.gemini.chartTransport,
    logger: quiet,
  });
  const runtime = await startWorkerRuntime(config, quiet, {
    llmConnection: { client, endpoint: emulator.url, emulator, close: async () => {} },
  });
  const backend = openQueueBackend(config);
  const queue = backend.queue("producer");
  try {
    const started = performance.now();
    const enqueued = await enqueueAnalyses(
      { sql: db.sql, queue },
      { tickers, model: MODEL, batch: way.batch },
    );
    const ids = enqueued.map((analysis) => analysis.id);
    await waitUntilEnded(db.sql, ids, 10 * 60_000);
    const wallMs = performance.now() - started;
    const rows = await ledgerOf(db.sql, ids, way);
    const sum = (pick: (row: AnalysisRow) => string) =>
      rows.reduce((total, row) => total + Number(pick(row)), 0);
    return {
      way,
      analyses: rows.length,
      costPico: rows.reduce((total, row) => total + usdToPico(row.cost_usd ?? "0"), 0n),
      tokens: sum((row) => row.total_tokens),
      input: sum((row) => row.total_input_tokens),
      cached: sum((row) => row.cached_input_tokens),
      output: sum((row) => row.total_output_tokens),
      wallMs,
      latenciesMs: rows.map((row) => row.latency_ms),
      batches: emulator.batches().length,
    };
  } finally {
    await runtime.close(5_000);
    await queue.close();
    await backend.close();
    await emulator.close();
    await dropQueueKeys(prefix);
  }
}

const seconds = (ms: number) => `${fmt(ms / 1000, 1)} s`;

/** Prints the cost table and the time table; true when batch with implicit caching met the target. */
function printTables(results: WayResult[]): boolean {
  const perAnalysis = (result: WayResult) => result.costPico / BigInt(result.analyses);
  const ratioOf = (result: WayResult) => {
    const baseline = results.find((r) => r.way.label === result.way.baseline);
    if (!baseline) throw new Error(`no ${result.way.baseline} run`);
    return Number(perAnalysis(result)) / Number(perAnalysis(baseline));
  };
  console.log(
    "\n| way | cost / analysis | × its standard | ≤ 0.5× | tokens / analysis | input | cached input | output |",
  );
  console.log("|---|---:|---:|---|---:|---:|---:|---:|");
  let met = true;
  for (const result of results) {
    const n = result.analyses;
    const ratio = ratioOf(result);
    const verdict = result.way.batch ? (ratio <= TARGET_RATIO ? "PASS" : "FAIL") : "baseline";
    if (result.way.batch && ratio > TARGET_RATIO) met = false;
    console.log(
      `| ${result.way.label} | ${formatUsd(perAnalysis(result))} | ${fmt(ratio, 2)}× | ${verdict} | ` +
        `${fmt(result.tokens / n, 0)} | ${fmt(result.input / n, 0)} | ` +
        `${fmt(result.cached / n, 0)} (${fmt((100 * result.cached) / Math.max(1, result.input), 1)}%) | ` +
        `${fmt(result.output / n, 0)} |`,
    );
  }
  console.log("\n| way | wall clock, all analyses | enqueue → completed: median | slowest | batches sent |");
  console.log("|---|---:|---:|---:|---:|");
  for (const result of results) {
    console.log(
      `| ${result.way.label} | ${seconds(result.wallMs)} | ${seconds(median(result.latenciesMs))} | ` +
        `${seconds(Math.max(...result.latenciesMs))} | ${result.batches} |`,
    );
  }
  return met;
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  // The worker's settings as the product reads them, with the bench's database and queue.
  const base: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: process.env.REDIS_URL ?? REDIS_URL };
  const shown = loadConfig({ ...base, DATABASE_URL: "postgres://bench@127.0.0.1/bench" });
  console.log(
    `machine: ${cpus[0]?.model ?? "unknown CPU"}, ${cpus.length} cores, Node ${process.versions.node}, ` +
      `load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}, host speed ${fmt(hostSpeedMs(), 0)} ms; date ${new Date().toISOString()}`,
  );
  console.log(
    `${TICKERS.length} tickers (synthetic, 260 daily bars each, imported), ${MODEL}, charts ${shown.charts ? "on" : "off"}, ` +
      `worker concurrency ${shown.workerConcurrency}; emulator latency ${LATENCY_MS} ms per call, ` +
      `batch delay ${BATCH_DELAY_MS} ms; BATCH_COLLECT_MS ${shown.batch.collectMs}, ` +
      `BATCH_POLL_MIN_MS ${shown.batch.pollMinMs}, BATCH_POLL_MAX_MS ${shown.batch.pollMaxMs}`,
  );

  const db = await createBenchDatabase();
  try {
    const bars = new Map([...TICKERS, WARM_UP_TICKER].map((ticker, i) => [ticker, syntheticBars(i + 1)]));
    await importPriceBars(db.sql, bars, { currency: "USD" });
    const results: WayResult[] = [];
    const warmed = new Set<boolean>();
    for (const way of WAYS) {
      // Its own runtime and emulator: the measured run still starts with an empty implicit cache.
      if (!warmed.has(way.batch)) await runWay(db, way, base, [WARM_UP_TICKER]);
      warmed.add(way.batch);
      results.push(await runWay(db, way, base, TICKERS));
      console.log(`${way.label}: done`);
    }
    const met = printTables(results);
    console.log(
      "\nEvery analysis' cost equals the sum of its llm_calls costs; every call is priced and served " +
        "in its way's tier (checked per run).",
    );
    console.log(
      `target (batch with implicit caching, as Gemini bills it, ≤ ${TARGET_RATIO}× standard): ${met ? "PASS" : "FAIL"}`,
    );
  } finally {
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
