/**
 * Memory: many analyses through one worker (L = 0, concurrency 64): worker RSS
 * after the first 10,000 (or the first 10% of a smaller run) against RSS at the end, live
 * trackers at shutdown (the "worker stopped" line's liveTrackers), and Redis keys under the
 * queue prefix against the retention configured (removeOnComplete / removeOnFail count 10,000).
 * Jobs are fed in as the worker drains them (at most `--backlog` waiting), as a long-lived queue
 * sees them. The worker logs at info here, since that is where it reports live trackers.
 * `npx tsx bench/memory.ts [--analyses 100000] [--backlog 2000] [--what-if no-prepare]`
 */
import { setTimeout as sleep } from "node:timers/promises";
import { projectRoot } from "../src/paths.js";
import { ANALYSIS_JOB_OPTIONS } from "../src/queue/analysis-queue.js";
import { enqueueProductAnalyses } from "./lib/enqueue.js";
import { loadLine, processCpuMs, RssSampler } from "./lib/proc.js";
import {
  type BenchProcess,
  DEPLOYED_NODE_OPTIONS,
  spawnNode,
  startEmulatorProcess,
} from "./lib/processes.js";
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
import {
  countQueueKeys,
  createBenchDatabase,
  dropQueueKeys,
  openBenchQueue,
  REDIS_URL,
  uniqueName,
} from "./lib/services.js";
import { applyWhatIfs, parseWhatIfs, type WhatIf } from "./lib/what-if.js";

export interface MemoryOptions {
  analyses: number;
  backlog: number;
  /** Hypothetical changes (lib/what-if.ts), to size a fix. */
  whatIf?: WhatIf[];
}

export const MEMORY_DEFAULTS: MemoryOptions = { analyses: 100_000, backlog: 2000 };

const log = (line: string) => process.stderr.write(`memory: ${line}\n`);
const retention = (option: unknown): number =>
  typeof option === "object" && option !== null && "count" in option ? Number(option.count) : Number.NaN;

/**
 * Least-squares slope of RSS against analyses ended: a slow leak shows here long before a
 * short run's end-versus-start comparison crosses 10%.
 */
function rssSlopePer10k(points: [number, number][]): number {
  if (points.length < 2) return Number.NaN;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / points.length;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : (num / den) * 10_000;
}

export async function runMemory(options: MemoryOptions): Promise<BenchResult> {
  const started = Date.now();
  const loadAtStart = loadLine();
  const emulator = await startEmulatorProcess(0);
  const db = await createBenchDatabase();
  const prefix = uniqueName("slmem");
  const opened = openBenchQueue(db.url, prefix);
  const { queue } = opened;
  let worker: BenchProcess | null = null;
  // RSS after the first 10,000 analyses (a smaller run: its first 10%, at least 1,000 so the heap has grown).
  const reference = Math.min(10_000, Math.max(1000, Math.floor(options.analyses / 10)));
  try {
    const workerDbUrl = await applyWhatIfs(db, options.whatIf ?? []);
    worker = spawnNode(
      [`${projectRoot}/bin/stock-ledger.js`, "worker"],
      {
        DATABASE_URL: workerDbUrl,
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        GEMINI_BASE_URL: emulator.url,
        GEMINI_API_KEY: "bench",
        WORKER_CONCURRENCY: "64",
        LOG_LEVEL: "info",
        NODE_OPTIONS: DEPLOYED_NODE_OPTIONS,
      },
      "worker",
    );
    await worker.waitFor(/worker ready/);
    const rss = new RssSampler(worker.pid, 500);
    const cpuStart = processCpuMs(worker.pid) ?? 0;
    const t0 = Date.now();
    let enqueued = 0;
    // (analyses ended, RSS MB) at every poll: RSS saw-tooths with GC, so windows are compared, not points.
    const samples: [number, number][] = [];
    let nextReport = Date.now() + 15_000;
    const timeline: string[] = [];
    for (;;) {
      const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized");
      const pending = Object.values(counts).reduce((sum, n) => sum + (n ?? 0), 0);
      const ended = enqueued - pending;
      samples.push([ended, rss.sample()]);
      if (Date.now() >= nextReport) {
        const line = `${ended} ended, RSS ${fmt(rss.lastMb, 0)} MB, ${fmt((ended * 1000) / (Date.now() - t0))} analyses/s (${loadLine()})`;
        log(line);
        timeline.push(line);
        nextReport = Date.now() + 15_000;
      }
      if (ended >= options.analyses) break;
      const room = Math.min(options.backlog - pending, options.analyses - enqueued);
      if (room >= Math.min(500, options.analyses - enqueued)) {
        await enqueueProductAnalyses({ sql: db.sql, queue }, room, enqueued);
        enqueued += room;
      } else {
        await sleep(200);
      }
    }
    const wallMs = Date.now() - t0;
    rss.stop();
    const cpuMs = (processCpuMs(worker.pid) ?? cpuStart) - cpuStart;
    const inWindow = (from: number, to: number) =>
      samples.filter(([n]) => n >= from && n <= to).map(([, mb]) => mb);
    const refRss = median(inWindow(reference, 2 * reference));
    const endRss = median(inWindow(0.9 * options.analyses, options.analyses));
    const slope = rssSlopePer10k(samples.filter(([n]) => n >= reference));
    const keys = await countQueueKeys(prefix);
    const statusRows = await db.sql<{ status: string; n: number }[]>`
      SELECT status, count(*)::int AS n FROM stock_analyses GROUP BY status`;
    await worker.stop("SIGTERM");
    const leaked = /"liveTrackers":(\d+)/.exec(worker.output())?.[1];
    const keepCompleted = retention(ANALYSIS_JOB_OPTIONS.removeOnComplete);
    const keepFailed = retention(ANALYSIS_JOB_OPTIONS.removeOnFail);
    const growth = endRss / refRss - 1;
    return {
      name: `4. Memory (${options.analyses.toLocaleString("en-US")} analyses, one worker, L = 0)`,
      rows: [
        row({
          metric: `worker RSS MB (median), ${fmt(reference, 0)}–${fmt(2 * reference, 0)} → last 10%`,
          baseline: fmt(refRss, 0),
          value: fmt(endRss, 0),
          ratio: `${growth >= 0 ? "+" : ""}${fmt(growth * 100)}%`,
          target: "within ±10%",
          pass: Math.abs(growth) <= 0.1,
        }),
        row({
          metric: "RSS trend after warm-up, MB per 10,000 analyses",
          value: `${slope >= 0 ? "+" : ""}${fmt(slope)}`,
        }),
        row({
          metric: "live trackers after shutdown",
          value: leaked ?? "not reported",
          target: "0",
          pass: leaked === "0",
        }),
        row({
          metric: "Redis job hashes under the prefix at the end",
          value: fmt(keys.jobs, 0),
          target: `≤ ${fmt(Math.min(options.analyses, keepCompleted) + keepFailed, 0)} (retention)`,
          pass: keys.jobs <= Math.min(options.analyses, keepCompleted) + keepFailed,
        }),
      ],
      notes: [
        ...(options.whatIf?.length ? [`WHAT-IF (hypothetical): ${options.whatIf.join(", ")}`] : []),
        `${options.analyses} analyses in ${fmt(wallMs / 1000, 0)} s (${fmt((options.analyses * 1000) / wallMs)} analyses/s, ` +
          `worker CPU ${fmt(cpuMs / options.analyses, 2)} ms/analysis at LOG_LEVEL=info); ` +
          `statuses ${JSON.stringify(Object.fromEntries(statusRows.map((r) => [r.status, r.n])))}`,
        `retention: removeOnComplete count ${keepCompleted}, removeOnFail count ${keepFailed}; ${keys.total} keys in all under the prefix ` +
          `(${keys.total - keys.jobs} fixed: queue lists, events stream, meta, id counter)`,
        `RSS: ${fmt(samples[0]?.[1] ?? Number.NaN, 0)} MB at the start, peak ${fmt(rss.peakMb, 0)} MB, sampled every 200 ms`,
        ...timeline,
        `took ${fmt((Date.now() - started) / 1000, 0)} s; ${loadAtStart} at the start, ${loadLine()} at the end`,
      ],
    };
  } finally {
    await worker?.stop("SIGKILL", 5_000);
    await opened.close();
    await emulator.stop("SIGTERM");
    await db.drop();
    await dropQueueKeys(prefix);
  }
}

if (isMain(import.meta.url)) {
  printResult(
    await runMemory({
      analyses: numberArg(process.argv, "analyses", MEMORY_DEFAULTS.analyses),
      backlog: numberArg(process.argv, "backlog", MEMORY_DEFAULTS.backlog),
      whatIf: parseWhatIfs(stringArg(process.argv, "what-if")),
    }),
  );
  process.exit(0);
}
