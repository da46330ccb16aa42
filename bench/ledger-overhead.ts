/**
 * Ledger overhead: the emulator at 0 ms latency in its own process; one
 * stock-ledger worker at concurrency 64 against a plain BullMQ + Gemini SDK baseline doing the
 * same six calls with the same prompts, measured in the same run, alternately.
 * `npx tsx bench/ledger-overhead.ts [--analyses 3000] [--rounds 1] [--concurrency 64]
 *   [--baseline-inputs per-job|cached] [--charts on|off] [--log-level warn|info] [--cpu-prof DIR] [--pg-stats]
 *   [--what-if no-rollups,async-commit] [--no-gc-trace] [--heap-sample DIR] [--warmup N] [--no-references]
 *   [--no-postgres-queue]`
 * Each round also runs the reference ledger designs (lib/reference-ledger.ts: the baseline
 * worker plus a straightforward ledger, its call rows written one INSERT each or group-committed),
 * so the table shows what a ledger with no more than the issue names costs on the same host.
 * HEAP_SAMPLE_ALL=1 with --heap-sample samples every allocation, not only promoted objects.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { compareGc } from "./lib/gc-trace.js";
import { compareHeapSamples } from "./lib/heap-sites.js";
import { loadLine } from "./lib/proc.js";
import { startEmulatorProcess } from "./lib/processes.js";
import { compareProfiles, summarizeProfiles } from "./lib/profile.js";
import { REFERENCE_LEDGERS, type ReferenceLedger } from "./lib/reference-ledger.js";
import {
  type BenchResult,
  fmt,
  isMain,
  median,
  numberArg,
  printResult,
  row,
  stringArg,
} from "./lib/report.js";
import { type BaselineRun, type ProductRun, runBaseline, runProduct } from "./lib/runs.js";
import { parseWhatIfs, type WhatIf } from "./lib/what-if.js";

export interface LedgerOverheadOptions {
  analyses: number;
  rounds: number;
  concurrency: number;
  /**
   * The baseline builds brief and prompts once per ticker (as the worker's market-inputs cache
   * does: equal work, so the ratio is the ledger's) or in every job (to size that cache).
   */
  baselineInputs: "per-job" | "cached";
  /** Charts for the four chart-reading stages, on both sides, sent alike (product default: on). */
  charts: boolean;
  logLevel: "warn" | "info";
  /** Profile the stock-ledger worker of the first round into this directory. */
  cpuProfDir?: string | undefined;
  /** Time Postgres' PL/pgSQL functions in the first round (track_functions). */
  pgStats?: boolean;
  /** Hypothetical changes to the bench database (see WHAT_IFS in lib/runs.ts), to size a fix. */
  whatIf?: WhatIf[];
  /** Both workers of the first round run with `--trace-gc-nvp`: GC per analysis, both sides. */
  gcTrace: boolean;
  /**
   * Both workers of the first round run V8's sampling heap profiler (objects that outlived the
   * young generation) and write it under this directory; the notes compare them by site.
   */
  heapSampleDir?: string | undefined;
  /**
   * Analyses each side's fresh worker runs before its window opens (default 0: the
   * measurement, cold workers included). A long-running worker has compiled its hot paths and
   * sized its heap long ago; this measures that steady state.
   */
  warmup: number;
  /** Also run the reference ledger designs each round (info rows). */
  references: boolean;
  /** Also run stock-ledger with its queue on BullMQ's PostgreSQL backend each round. */
  postgresQueue: boolean;
}

export const LEDGER_OVERHEAD_DEFAULTS: LedgerOverheadOptions = {
  analyses: 3000,
  rounds: 1,
  concurrency: 64,
  baselineInputs: "cached",
  charts: true,
  logLevel: "warn",
  gcTrace: true,
  warmup: 0,
  references: true,
  postgresQueue: true,
};

const log = (line: string) => process.stderr.write(`ledger-overhead: ${line}\n`);

export async function runLedgerOverhead(options: LedgerOverheadOptions): Promise<BenchResult> {
  const started = Date.now();
  const notes: string[] = [];
  const emulator = await startEmulatorProcess(0);
  const baselines: BaselineRun[] = [];
  const profiled: { baseline?: { dir: string; skipMs: number }; product?: { dir: string; skipMs: number } } =
    {};
  // Only the first round is profiled (--cpu-prof slows a process down by a few per cent).
  const firstRoundDir = (root: string | undefined) => (round: number, side: string) => {
    if (round > 0 || !root) return undefined;
    const dir = path.join(root, side);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const profDir = firstRoundDir(options.cpuProfDir);
  const heapDir = firstRoundDir(options.heapSampleDir);
  const products: ProductRun[] = [];
  const pgQueueProducts: ProductRun[] = [];
  const references = new Map<ReferenceLedger, BaselineRun[]>(REFERENCE_LEDGERS.map((d) => [d, []]));
  const sides = [
    "baseline",
    "stock-ledger",
    ...(options.postgresQueue ? ["stock-ledger-pg-queue"] : []),
    ...(options.references ? REFERENCE_LEDGERS : []),
  ];
  // The baseline worker's settings, shared by the baseline and the reference designs it runs.
  const baselineWorker = {
    analyses: options.analyses,
    concurrency: options.concurrency,
    emulatorUrl: emulator.url,
    emulatorPid: emulator.pid,
    inputs: options.baselineInputs,
    charts: options.charts,
    warmup: options.warmup,
  };
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Rotate which goes first, so a drift in machine load does not always favour one side.
      const order = [...sides.slice(round % sides.length), ...sides.slice(0, round % sides.length)];
      for (const side of order) {
        const load = loadLine();
        const reference = references.get(side as ReferenceLedger);
        if (reference) {
          const run = await runBaseline({ ...baselineWorker, ledger: side as ReferenceLedger });
          reference.push(run);
          log(
            `round ${round + 1} reference ledger (${side}): ${fmt(run.throughput.overall)} analyses/s, ` +
              `${fmt(run.cpuPerAnalysisMs, 2)} CPU ms/analysis (Postgres ${fmt((run.cpuMs.postgres ?? 0) / run.analyses, 2)}) (${load})`,
          );
        } else if (side === "stock-ledger-pg-queue") {
          const run = await runProduct({
            queueBackend: "postgres",
            analyses: options.analyses,
            workers: 1,
            concurrency: options.concurrency,
            emulatorUrl: emulator.url,
            emulatorPid: emulator.pid,
            logLevel: options.logLevel,
            charts: options.charts,
            whatIf: options.whatIf,
            warmup: options.warmup,
          });
          pgQueueProducts.push(run);
          log(
            `round ${round + 1} stock-ledger, queue on PostgreSQL: ${fmt(run.throughput.overall)} analyses/s, ` +
              `${fmt(run.cpuPerAnalysisMs, 2)} CPU ms/analysis (worker ${fmt(run.workerCpuPerAnalysisMs, 2)} + ` +
              `postgres ${fmt((run.cpuMs.postgres ?? 0) / run.analyses, 2)}) statuses ${JSON.stringify(run.statuses)} (${load})`,
          );
        } else if (side === "baseline") {
          const run = await runBaseline({
            ...baselineWorker,
            cpuProfDir: profDir(round, "baseline"),
            gcTrace: round === 0 && options.gcTrace,
            heapSampleDir: heapDir(round, "baseline"),
          });
          baselines.push(run);
          const dir = profDir(round, "baseline");
          if (dir) profiled.baseline = { dir, skipMs: run.startOffsetMs };
          log(
            `round ${round + 1} baseline: ${fmt(run.throughput.overall)} analyses/s, ${fmt(run.cpuPerAnalysisMs, 2)} CPU ms/analysis (${load})`,
          );
        } else {
          const cpuProfDir = profDir(round, "stock-ledger");
          const run = await runProduct({
            analyses: options.analyses,
            workers: 1,
            concurrency: options.concurrency,
            emulatorUrl: emulator.url,
            emulatorPid: emulator.pid,
            cpuProfDir,
            logLevel: options.logLevel,
            charts: options.charts,
            pgStats: round === 0 && options.pgStats,
            whatIf: options.whatIf,
            gcTrace: round === 0 && options.gcTrace,
            heapSampleDir: heapDir(round, "stock-ledger"),
            warmup: options.warmup,
          });
          products.push(run);
          log(
            `round ${round + 1} stock-ledger: ${fmt(run.throughput.overall)} analyses/s, ${fmt(run.cpuPerAnalysisMs, 2)} CPU ms/analysis ` +
              `(worker ${fmt(run.workerCpuPerAnalysisMs, 2)} + postgres ${fmt((run.cpuMs.postgres ?? 0) / run.analyses, 2)}; ` +
              `all postgres processes ${fmt((run.cpuMs.postgresAll ?? 0) / run.analyses, 2)}) statuses ${JSON.stringify(run.statuses)} (${load})`,
          );
          if (round === 0) notes.push(...run.pgActivity);
          if (cpuProfDir) {
            profiled.product = { dir: cpuProfDir, skipMs: run.startOffsetMs };
            notes.push(...summarizeProfiles(cpuProfDir, { skipMs: run.startOffsetMs, top: 25 }).split("\n"));
          }
        }
      }
    }
  } finally {
    await emulator.stop("SIGTERM");
  }
  const [baseGc, productGc] = [baselines[0]?.gc, products[0]?.gc];
  if (baseGc && productGc) notes.push(...compareGc(baseGc, productGc));
  if (options.heapSampleDir) {
    const dir = (side: string) => path.join(options.heapSampleDir as string, side);
    notes.push(...compareHeapSamples(dir("baseline"), dir("stock-ledger"), options.analyses));
  }
  if (profiled.baseline && profiled.product) {
    notes.push(...compareProfiles(profiled.baseline, profiled.product, options.analyses));
  }
  const per = (runs: { analyses: number; cpuMs: Record<string, number> }[], key: string) =>
    median(runs.map((r) => (r.cpuMs[key] ?? 0) / r.analyses));
  const base = medianRateAndCpu(baselines);
  const ledger = medianRateAndCpu(products);
  const rateRatio = ledger.rate / base.rate;
  const cpuRatio = ledger.cpu / base.cpu;
  const statuses = products.map((p) => JSON.stringify(p.statuses)).join(" ");
  notes.unshift(
    `${options.analyses} analyses per side, ${options.rounds} round(s), concurrency ${options.concurrency}, emulator latency 0 ms, ` +
      `charts ${options.charts ? "on" : "off"}, baseline inputs ${options.baselineInputs}, worker LOG_LEVEL=${options.logLevel}; medians over rounds` +
      (options.warmup > 0
        ? `; each worker warmed up with ${options.warmup} analyses first (not the cold measurement)`
        : "") +
      (options.whatIf?.length
        ? `; WHAT-IF (hypothetical, bench database only): ${options.whatIf.join(", ")}`
        : ""),
    `stock-ledger final statuses: ${statuses}; failed jobs: baseline ${baselines.map((b) => b.failedJobs).join("/")}, ` +
      `stock-ledger ${products.map((p) => p.failedJobs).join("/")}`,
    `steady-state analyses/s (10th–90th percentile completions): baseline ${fmt(median(baselines.map((r) => r.throughput.steady)))}, ` +
      `stock-ledger ${fmt(median(products.map((r) => r.throughput.steady)))}`,
    `per round (each side measured back to back, so these show the run-to-run noise the medians smooth): ` +
      `CPU ratio ${pairedRatios(baselines, products, (r) => r.cpuPerAnalysisMs)}; ` +
      `analyses/s ratio ${pairedRatios(baselines, products, (r) => r.throughput.overall)}`,
    `stock-ledger CPU ms/analysis = worker ${fmt(per(products, "workers"), 2)} + Postgres ${fmt(per(products, "postgres"), 2)} ` +
      `(bench database backends + background processes; every postgres process on the machine: ${fmt(per(products, "postgresAll"), 2)})`,
    `worker threads, CPU ms/analysis (main thread + V8's GC and compiler threads and libuv's pool): ` +
      `baseline ${fmt(per(baselines, "baseline0.main"), 2)} + ${fmt(per(baselines, "baseline0") - per(baselines, "baseline0.main"), 2)}, ` +
      `stock-ledger ${fmt(per(products, "worker0.main"), 2)} + ${fmt(per(products, "worker0") - per(products, "worker0.main"), 2)}`,
    `not in the ratio: emulator ${fmt(per(baselines, "emulator"), 2)} / ${fmt(per(products, "emulator"), 2)} and ` +
      `Redis ${fmt(per(baselines, "redis"), 2)} / ${fmt(per(products, "redis"), 2)} CPU ms/analysis (baseline / stock-ledger)`,
    `RSS at the start → peak: baseline ${fmt(median(baselines.map((r) => r.startRssMb)), 0)} → ${fmt(median(baselines.map((r) => r.peakRssMb)), 0)} MB, ` +
      `stock-ledger worker ${fmt(median(products.map((r) => r.startRssMb)), 0)} → ${fmt(median(products.map((r) => r.peakRssMb)), 0)} MB`,
    `took ${fmt((Date.now() - started) / 1000, 0)} s; ${loadLine()} at the end`,
  );
  return {
    name: "1. Ledger overhead (L = 0 ms, one worker, concurrency 64)",
    rows: [
      row({
        metric: "analyses/s",
        baseline: fmt(base.rate),
        value: fmt(ledger.rate),
        ratio: fmt(rateRatio, 2),
        target: "≥ 0.90",
        pass: rateRatio >= 0.9,
      }),
      row({
        metric: "CPU ms per analysis (worker + Postgres)",
        baseline: fmt(base.cpu, 2),
        value: fmt(ledger.cpu, 2),
        ratio: fmt(cpuRatio, 2),
        target: "≤ 1.25",
        pass: cpuRatio <= 1.25,
      }),
      ...[...references].flatMap(([design, runs]) =>
        runs.length === 0 ? [] : referenceRows(design, runs, base),
      ),
      ...againstGroupedReference(references.get("grouped") ?? [], ledger),
      ...postgresQueueRows(pgQueueProducts, products, ledger),
    ],
    notes,
  };
}

/**
 * The same worker with its queue in PostgreSQL against it on Redis: analyses/s (target ≥ 0.7)
 * and CPU per analysis of the worker plus Postgres (which now also does the queue's work).
 */
function postgresQueueRows(runs: ProductRun[], redisRuns: ProductRun[], onRedis: RateAndCpu) {
  if (runs.length === 0) return [];
  const { rate, cpu } = medianRateAndCpu(runs);
  const per = (r: ProductRun[], key: string) => median(r.map((run) => (run.cpuMs[key] ?? 0) / run.analyses));
  // On Redis the queue's work is Redis' CPU; on PostgreSQL it is in Postgres' figure.
  const redisSide = onRedis.cpu + per(redisRuns, "redis");
  return [
    row({
      metric: "analyses/s, queue on PostgreSQL vs on Redis",
      baseline: fmt(onRedis.rate),
      value: fmt(rate),
      ratio: fmt(rate / onRedis.rate, 2),
      target: "≥ 0.70",
      pass: rate / onRedis.rate >= 0.7,
    }),
    row({
      metric: "CPU ms per analysis (worker + Postgres + Redis), queue on PostgreSQL vs on Redis",
      baseline: `${fmt(redisSide, 2)} (PG ${fmt(per(redisRuns, "postgres"), 2)}, Redis ${fmt(per(redisRuns, "redis"), 2)})`,
      value: `${fmt(cpu, 2)} (PG ${fmt(per(runs, "postgres"), 2)})`,
      ratio: fmt(cpu / redisSide, 2),
    }),
  ];
}

interface RateAndCpu {
  rate: number;
  cpu: number;
}

/** Median analyses/s and CPU ms per analysis over a side's rounds. */
function medianRateAndCpu(runs: BaselineRun[]): RateAndCpu {
  return {
    rate: median(runs.map((r) => r.throughput.overall)),
    cpu: median(runs.map((r) => r.cpuPerAnalysisMs)),
  };
}

const REFERENCE_LABELS: Record<ReferenceLedger, string> = {
  "per-call": "reference ledger, one INSERT per call",
  grouped: "reference ledger, call rows group-committed",
};

/**
 * Info rows: stock-ledger against the straightforward design (the grouped reference) instead of
 * the bare SDK: what the ledger's own additions cost over a ledger with no more than the issue names.
 */
function againstGroupedReference(runs: BaselineRun[], ledger: RateAndCpu) {
  if (runs.length === 0) return [];
  const { rate, cpu } = medianRateAndCpu(runs);
  return [
    row({
      metric: "analyses/s against the grouped reference",
      baseline: fmt(rate),
      value: fmt(ledger.rate),
      ratio: fmt(ledger.rate / rate, 2),
    }),
    row({
      metric: "CPU ms per analysis against the grouped reference",
      baseline: fmt(cpu, 2),
      value: fmt(ledger.cpu, 2),
      ratio: fmt(ledger.cpu / cpu, 2),
    }),
  ];
}

/** Info rows: what a reference ledger design costs against the same baseline (medians). */
function referenceRows(design: ReferenceLedger, runs: BaselineRun[], base: RateAndCpu) {
  const { rate, cpu } = medianRateAndCpu(runs);
  const pg = median(runs.map((r) => (r.cpuMs.postgres ?? 0) / r.analyses));
  return [
    row({
      metric: `analyses/s, ${REFERENCE_LABELS[design]}`,
      baseline: fmt(base.rate),
      value: fmt(rate),
      ratio: fmt(rate / base.rate, 2),
    }),
    row({
      metric: `CPU ms per analysis, ${REFERENCE_LABELS[design]}`,
      baseline: fmt(base.cpu, 2),
      value: `${fmt(cpu, 2)} (PG ${fmt(pg, 2)})`,
      ratio: fmt(cpu / base.cpu, 2),
    }),
  ];
}

/** Round i's baseline against round i's stock-ledger, for each round both sides ran. */
function pairedRatios(
  baselines: BaselineRun[],
  products: ProductRun[],
  figure: (run: BaselineRun) => number,
): string {
  return products
    .slice(0, baselines.length)
    .map((p, i) => fmt(figure(p) / figure(baselines[i] as BaselineRun), 2))
    .join(", ");
}

export function ledgerOverheadOptions(argv: string[]): LedgerOverheadOptions {
  const inputs = stringArg(argv, "baseline-inputs") ?? LEDGER_OVERHEAD_DEFAULTS.baselineInputs;
  const level = stringArg(argv, "log-level") ?? LEDGER_OVERHEAD_DEFAULTS.logLevel;
  const charts = stringArg(argv, "charts") ?? "on";
  if (
    (inputs !== "per-job" && inputs !== "cached") ||
    (level !== "warn" && level !== "info") ||
    (charts !== "on" && charts !== "off")
  ) {
    process.stderr.write(
      "ledger-overhead: --baseline-inputs per-job|cached, --log-level warn|info, --charts on|off\n",
    );
    process.exit(2);
  }
  const prof = stringArg(argv, "cpu-prof");
  const heap = stringArg(argv, "heap-sample");
  return {
    analyses: numberArg(argv, "analyses", LEDGER_OVERHEAD_DEFAULTS.analyses),
    rounds: Math.max(1, numberArg(argv, "rounds", LEDGER_OVERHEAD_DEFAULTS.rounds)),
    concurrency: numberArg(argv, "concurrency", LEDGER_OVERHEAD_DEFAULTS.concurrency),
    baselineInputs: inputs,
    charts: charts === "on",
    logLevel: level,
    cpuProfDir: prof ? path.resolve(prof) : undefined,
    pgStats: argv.includes("--pg-stats"),
    gcTrace: !argv.includes("--no-gc-trace"),
    heapSampleDir: heap ? path.resolve(heap) : undefined,
    warmup: numberArg(argv, "warmup", LEDGER_OVERHEAD_DEFAULTS.warmup),
    references: !argv.includes("--no-references"),
    postgresQueue: !argv.includes("--no-postgres-queue"),
    whatIf: parseWhatIfs(stringArg(argv, "what-if")),
  };
}

if (isMain(import.meta.url)) {
  printResult(await runLedgerOverhead(ledgerOverheadOptions(process.argv)));
  process.exit(0);
}
