/**
 * Concurrency: emulator latency L = 500 ms. One worker at concurrency 128 against the ideal
 * 128 / (2L) analyses/s, its peak RSS and CPU per analysis, with the queue on Redis and on
 * BullMQ's PostgreSQL backend; then two worker
 * processes at 64 each against one at 64. Rates are steady-state (between the 10th and 90th
 * percentile completion), so the 2L ramp-up and the tail of a short run do not count, and
 * every worker first runs one full wave (its concurrency in analyses) unmeasured, so the rates
 * are those of running workers, not of processes still compiling their code and drawing their
 * first charts (both sides alike).
 * The targets are absolute, so the same two scale-out runs are also made with the bare SDK
 * (bench/baseline-worker.ts, no ledger, no Postgres): on a host whose 2 cores are saturated
 * by the SDK, the emulator and Redis alone, that row shows the ceiling any worker could reach.
 * The stock-ledger workers serve /metrics, read at the end: how long their ledger writes waited
 * to commit (an analysis waits for about six in turn) and how late their event loops ran.
 * `npx tsx bench/concurrency.ts [--analyses 1000] [--latency 500] [--what-if no-rollups,async-commit]
 *   [--cpu-prof DIR]` (profiles the 1 × 128 worker; its summary goes to the notes)
 */
import { mkdirSync } from "node:fs";
import { startRedisCluster } from "../test/helpers/redis-cluster.js";
import { loadLine } from "./lib/proc.js";
import { startEmulatorProcess } from "./lib/processes.js";
import { summarizeProfiles } from "./lib/profile.js";
import { type BenchResult, fmt, isMain, numberArg, printResult, row, stringArg } from "./lib/report.js";
import { type BaselineRun, type ProductRun, runBaseline, runProduct } from "./lib/runs.js";
import { parseWhatIfs, type WhatIf } from "./lib/what-if.js";
import { describeWriteWaits } from "./lib/write-waits.js";

export interface ConcurrencyOptions {
  /** Analyses for the concurrency-128 and the two-worker runs; the one-worker-at-64 run gets 60%. */
  analyses: number;
  latencyMs: number;
  /** Hypothetical changes to the bench databases (WHAT_IFS in lib/runs.ts), to size a fix. */
  whatIf?: WhatIf[];
  /** Profile the 1 × 128 worker (`node --cpu-prof`) into this directory. */
  cpuProfDir?: string | undefined;
}

export const CONCURRENCY_DEFAULTS: ConcurrencyOptions = { analyses: 1000, latencyMs: 500 };

const log = (line: string) => process.stderr.write(`concurrency: ${line}\n`);

function describeBaseline(label: string, run: BaselineRun, load: string): string {
  return (
    `${label}: ${run.analyses} analyses, steady ${fmt(run.throughput.steady)} / overall ${fmt(run.throughput.overall)} analyses/s, ` +
    `worker CPU ${fmt(run.cpuPerAnalysisMs, 2)} ms/analysis, emulator ${fmt((run.cpuMs.emulator ?? 0) / run.analyses, 2)} ms/analysis (${load})`
  );
}

function describe(label: string, run: ProductRun, load: string): string {
  return (
    `${label}: ${run.analyses} analyses, steady ${fmt(run.throughput.steady)} / overall ${fmt(run.throughput.overall)} analyses/s, ` +
    `worker CPU ${fmt(run.workerCpuPerAnalysisMs, 2)} ms/analysis, Postgres ${fmt((run.cpuMs.postgres ?? 0) / run.analyses, 2)} ms/analysis, ` +
    `emulator ${fmt((run.cpuMs.emulator ?? 0) / run.analyses, 2)} ms/analysis, RSS ${fmt(run.startRssMb, 0)} MB at the start → ${fmt(run.peakRssMb, 0)} MB peak, ` +
    `statuses ${JSON.stringify(run.statuses)}; ledger writes' mean wait to commit: ${describeWriteWaits(run.writeWaits, run.analyses)} (${load})`
  );
}

export async function runConcurrency(options: ConcurrencyOptions): Promise<BenchResult> {
  const started = Date.now();
  if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true });
  const L = options.latencyMs;
  const emulator = await startEmulatorProcess(L);
  const notes: string[] = [];
  const measure = async (
    label: string,
    workers: number,
    concurrency: number,
    analyses: number,
    cpuProfDir?: string,
    queueBackend: "redis" | "postgres" = "redis",
    redisUrl?: string,
  ) => {
    const load = loadLine();
    const run = await runProduct({
      queueBackend,
      redisUrl,
      analyses,
      workers,
      concurrency,
      emulatorUrl: emulator.url,
      emulatorPid: emulator.pid,
      whatIf: options.whatIf,
      cpuProfDir,
      metrics: true,
      warmup: workers * concurrency,
    });
    const line = describe(label, run, load);
    log(line);
    notes.push(line);
    return run;
  };
  try {
    const wide = await measure("1 worker × 128", 1, 128, options.analyses, options.cpuProfDir);
    if (options.cpuProfDir) {
      notes.push(
        ...summarizeProfiles(options.cpuProfDir, { skipMs: wide.startOffsetMs, top: 25 }).split("\n"),
      );
    }
    const widePg = await measure(
      "1 worker × 128, queue on PostgreSQL",
      1,
      128,
      options.analyses,
      undefined,
      "postgres",
    );
    const one = await measure("1 worker × 64", 1, 64, Math.round(options.analyses * 0.6));
    const two = await measure("2 workers × 64", 2, 64, options.analyses);
    // The same scale-out with the queue on a Redis Cluster of the bench's own (3 masters, 3 replicas).
    const cluster = await startRedisCluster();
    let oneCluster: ProductRun;
    let twoCluster: ProductRun;
    try {
      oneCluster = await measure(
        "1 worker × 64, Redis Cluster",
        1,
        64,
        Math.round(options.analyses * 0.6),
        undefined,
        "redis",
        cluster.url,
      );
      twoCluster = await measure(
        "2 workers × 64, Redis Cluster",
        2,
        64,
        options.analyses,
        undefined,
        "redis",
        cluster.url,
      );
    } finally {
      await cluster.stop();
    }
    const clusterScale = twoCluster.throughput.steady / oneCluster.throughput.steady;
    const measureBare = async (label: string, workers: number, analyses: number) => {
      const load = loadLine();
      const run = await runBaseline({
        analyses,
        workers,
        concurrency: 64,
        emulatorUrl: emulator.url,
        emulatorPid: emulator.pid,
        inputs: "cached",
        charts: true,
        warmup: workers * 64,
      });
      const line = describeBaseline(label, run, load);
      log(line);
      notes.push(line);
      return run;
    };
    const bareOne = await measureBare("bare SDK, 1 worker × 64", 1, Math.round(options.analyses * 0.6));
    const bareTwo = await measureBare("bare SDK, 2 workers × 64", 2, options.analyses);
    const ideal = 128 / ((2 * L) / 1000);
    const scale = two.throughput.steady / one.throughput.steady;
    const bareScale = bareTwo.throughput.steady / bareOne.throughput.steady;
    notes.push(`took ${fmt((Date.now() - started) / 1000, 0)} s; ${loadLine()} at the end`);
    if (options.whatIf?.length)
      notes.unshift(`WHAT-IF (hypothetical, bench databases only): ${options.whatIf.join(", ")}`);
    return {
      name: `3. Concurrency (L = ${L} ms)`,
      rows: [
        row({
          metric: "analyses/s, 1 worker × 128 (vs 128 / 2L)",
          baseline: fmt(ideal),
          value: fmt(wide.throughput.steady),
          ratio: fmt(wide.throughput.steady / ideal, 2),
          target: "≥ 0.80",
          pass: wide.throughput.steady / ideal >= 0.8,
        }),
        row({
          metric: "analyses/s, 1 worker × 128, queue on PostgreSQL (vs 128 / 2L)",
          baseline: fmt(ideal),
          value: fmt(widePg.throughput.steady),
          ratio: fmt(widePg.throughput.steady / ideal, 2),
          target: "≥ 0.80",
          pass: widePg.throughput.steady / ideal >= 0.8,
        }),
        row({
          metric: "worker CPU ms per analysis, 1 worker × 128, queue on PostgreSQL (Postgres alongside)",
          value: `${fmt(widePg.workerCpuPerAnalysisMs, 2)} (PG ${fmt((widePg.cpuMs.postgres ?? 0) / widePg.analyses, 2)})`,
        }),
        row({
          metric: "peak RSS MB, 1 worker × 128",
          value: fmt(wide.peakRssMb, 0),
          target: "< 400 MB",
          pass: wide.peakRssMb < 400,
        }),
        row({
          metric: "worker CPU ms per analysis, 1 worker × 128",
          value: fmt(wide.workerCpuPerAnalysisMs, 2),
        }),
        row({
          metric: "analyses/s, 2 workers × 64 vs 1 × 64",
          baseline: fmt(one.throughput.steady),
          value: fmt(two.throughput.steady),
          ratio: fmt(scale, 2),
          target: "≥ 1.80",
          pass: scale >= 1.8,
        }),
        row({
          metric: "analyses/s, 2 workers × 64 vs 1 × 64, queue on a Redis Cluster",
          baseline: fmt(oneCluster.throughput.steady),
          value: fmt(twoCluster.throughput.steady),
          ratio: fmt(clusterScale, 2),
          target: "≥ 1.80",
          pass: clusterScale >= 1.8,
        }),
        row({
          metric: "analyses/s, 2 × 64 vs 1 × 64, bare SDK (no ledger)",
          baseline: fmt(bareOne.throughput.steady),
          value: fmt(bareTwo.throughput.steady),
          ratio: fmt(bareScale, 2),
        }),
      ],
      notes,
    };
  } finally {
    await emulator.stop("SIGTERM");
  }
}

if (isMain(import.meta.url)) {
  printResult(
    await runConcurrency({
      analyses: numberArg(process.argv, "analyses", CONCURRENCY_DEFAULTS.analyses),
      latencyMs: numberArg(process.argv, "latency", CONCURRENCY_DEFAULTS.latencyMs),
      whatIf: parseWhatIfs(stringArg(process.argv, "what-if")),
      cpuProfDir: stringArg(process.argv, "cpu-prof"),
    }),
  );
  process.exit(0);
}
