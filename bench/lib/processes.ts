/**
 * The processes a bench measures: the Gemini emulator, stock-ledger workers and the baseline
 * worker, each in its own OS process so /proc can tell their CPU apart.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { projectRoot } from "../../src/paths.js";
import { GC_TRACE_FLAG, type GcTrace } from "./gc-trace.js";
import { REDIS_URL } from "./services.js";

const CLI = path.join(projectRoot, "bin", "stock-ledger.js");
const BASELINE = path.join(projectRoot, "bench", "baseline-worker.ts");
const HEAP_SAMPLE_PRELOAD = path.join(projectRoot, "bench", "lib", "heap-sample-preload.mjs");
/** Output kept per process: enough for the last log lines, bounded over 100,000 analyses. */
const OUTPUT_TAIL_CHARS = 64 * 1024;

export interface BenchProcess {
  child: ChildProcess;
  pid: number;
  /** The last 64 KB of stdout and stderr. */
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` and resolves with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Children still running: killed if the bench itself exits or is interrupted, so none is left behind. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping ${running.size} child process(es)\n`);
    process.exit(130);
  });
}

export function spawnNode(
  args: string[],
  env: Record<string, string>,
  name: string,
  onStdout?: (chunk: string) => void,
): BenchProcess {
  const child = spawn(process.execPath, args, {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  running.add(child);
  child.once("close", () => running.delete(child));
  let output = "";
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(output)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    if (output.length > OUTPUT_TAIL_CHARS * 2) output = output.slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", onData);
  if (onStdout) child.stdout?.on("data", (chunk: Buffer) => onStdout(chunk.toString()));
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const pid = child.pid;
  return {
    child,
    pid,
    output: () => output,
    waitFor(pattern, timeoutMs = 60_000) {
      if (pattern.test(output)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${output}`)),
          timeoutMs,
        );
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push({ pattern, resolve: done });
        exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code}) before printing ${pattern}:\n${output}`));
        });
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 60_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** The bench's own CHART_TRANSPORT, passed to both sides so they send charts alike (unset: the default, files). */
function chartTransportEnv(): Record<string, string> {
  const transport = process.env.CHART_TRANSPORT;
  return transport ? { CHART_TRANSPORT: transport } : {};
}

export interface EmulatorProcess extends BenchProcess {
  url: string;
}

/** `stock-ledger emulator` in its own process, answering after `latencyMs`. */
export async function startEmulatorProcess(latencyMs: number): Promise<EmulatorProcess> {
  const port = await freePort();
  const proc = spawnNode(
    [CLI, "emulator", "--port", String(port)],
    { EMULATOR_LATENCY_MS: String(latencyMs), LOG_LEVEL: "warn" },
    "emulator",
  );
  await proc.waitFor(/Gemini emulator listening on/);
  return { ...proc, url: `http://127.0.0.1:${port}` };
}

export interface WorkerOptions {
  databaseUrl: string;
  queuePrefix: string;
  emulatorUrl: string;
  concurrency: number;
  /** warn (default) keeps per-analysis log lines out; info prints "worker ready"/"worker stopped". */
  logLevel?: "warn" | "info";
  /** Directory for a V8 CPU profile written when the worker exits (`node --cpu-prof`). */
  cpuProfDir?: string;
  /** Run the worker with `--trace-gc-nvp` and collect its lines here. */
  gcTrace?: GcTrace | undefined;
  heapSampleDir?: string | undefined;
  /** Serve the worker's /metrics on this port (`--metrics-port`). */
  metricsPort?: number | undefined;
  extraEnv?: Record<string, string>;
}

interface Instrumentation {
  cpuProfDir?: string | undefined;
  gcTrace?: GcTrace | undefined;
  /** Write a sampling heap profile of promoted objects here on exit (heap-sample-preload.mjs). */
  heapSampleDir?: string | undefined;
}

function nodeFlagsFor(options: Instrumentation): string[] {
  return [
    ...(options.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
    ...(options.gcTrace ? [GC_TRACE_FLAG] : []),
    ...(options.heapSampleDir ? ["--import", HEAP_SAMPLE_PRELOAD] : []),
  ];
}

function instrumentationEnv(options: Instrumentation): Record<string, string> {
  if (!options.heapSampleDir) return {};
  // HEAP_SAMPLE_ALL=1 in the bench's environment samples every allocation, not only promoted ones.
  return { HEAP_SAMPLE_DIR: options.heapSampleDir, HEAP_SAMPLE_ALL: process.env.HEAP_SAMPLE_ALL ?? "" };
}

/**
 * The NODE_OPTIONS the image ships with (Dockerfile `ENV NODE_OPTIONS`): both sides of every
 * bench run with them, so RSS is the deployed worker's.
 */
export const DEPLOYED_NODE_OPTIONS: string =
  /^ENV NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(path.join(projectRoot, "Dockerfile"), "utf8"))?.[1] ?? "";

/**
 * `stock-ledger worker` in its own process. Readiness is the worker's BullMQ connection showing
 * up in Redis (`isReady`), since at LOG_LEVEL=warn it prints nothing when ready.
 */
export async function startWorkerProcess(
  options: WorkerOptions,
  isReady: () => Promise<boolean>,
): Promise<BenchProcess> {
  const nodeFlags = nodeFlagsFor(options);
  const proc = spawnNode(
    [
      ...nodeFlags,
      CLI,
      "worker",
      ...(options.metricsPort ? ["--metrics-port", String(options.metricsPort)] : []),
    ],
    {
      DATABASE_URL: options.databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: options.queuePrefix,
      GEMINI_BASE_URL: options.emulatorUrl,
      GEMINI_API_KEY: "bench",
      WORKER_CONCURRENCY: String(options.concurrency),
      LOG_LEVEL: options.logLevel ?? "warn",
      NODE_OPTIONS: DEPLOYED_NODE_OPTIONS,
      ...chartTransportEnv(),
      ...instrumentationEnv(options),
      ...options.extraEnv,
    },
    "worker",
    options.gcTrace?.onOutput,
  );
  await waitUntil(isReady, proc, "worker");
  return proc;
}

export interface BaselineOptions {
  queuePrefix: string;
  emulatorUrl: string;
  concurrency: number;
  /** "per-job" builds brief and prompts in every job as the pipeline does; "cached" once per ticker. */
  inputs: "per-job" | "cached";
  /** Inline charts for the four chart-reading stages, as the worker's CHARTS. */
  charts: boolean;
  cpuProfDir?: string | undefined;
  gcTrace?: GcTrace | undefined;
  heapSampleDir?: string | undefined;
  /** A reference ledger design on top (bench/lib/reference-ledger.ts), writing to this database. */
  ledger?: { design: string; databaseUrl: string } | undefined;
}

/** bench/baseline-worker.ts: plain BullMQ + Gemini SDK, no ledger, no Postgres (unless `ledger`). */
export async function startBaselineProcess(options: BaselineOptions): Promise<BenchProcess> {
  const nodeFlags = nodeFlagsFor(options);
  const proc = spawnNode(
    [...nodeFlags, "--import", "tsx", BASELINE],
    {
      REDIS_URL,
      QUEUE_PREFIX: options.queuePrefix,
      GEMINI_BASE_URL: options.emulatorUrl,
      GEMINI_API_KEY: "bench",
      WORKER_CONCURRENCY: String(options.concurrency),
      BASELINE_INPUTS: options.inputs,
      CHARTS: options.charts ? "on" : "off",
      ...(options.ledger && {
        BASELINE_LEDGER: options.ledger.design,
        DATABASE_URL: options.ledger.databaseUrl,
      }),
      NODE_OPTIONS: DEPLOYED_NODE_OPTIONS,
      ...chartTransportEnv(),
      ...instrumentationEnv(options),
    },
    "baseline worker",
    options.gcTrace?.onOutput,
  );
  await proc.waitFor(/baseline worker ready/);
  return proc;
}

async function waitUntil(
  check: () => Promise<boolean>,
  proc: BenchProcess,
  name: string,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited early:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs} ms:\n${proc.output()}`);
    await sleep(100);
  }
}
