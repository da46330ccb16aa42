/**
 * One measured run: workers already started and idle on a paused queue, every job enqueued,
 * CPU marks taken, then the queue is resumed and the clock runs until every job has ended.
 * Startup (tsx compiling the sources, connecting) and enqueueing stay outside the window.
 */
import { mainThreadCpuMs, processCpuMs, RssSampler } from "./proc.js";
import {
  type AnyQueue,
  completionTimes,
  failedCount,
  type Throughput,
  throughputOf,
  waitForEnded,
} from "./wait.js";

export interface CpuSource {
  label: string;
  /** Marks now; the returned function gives the CPU ms spent since. */
  mark(): Promise<() => Promise<number>>;
}

export function processCpu(label: string, pid: number, read = processCpuMs): CpuSource {
  return {
    label,
    async mark() {
      const start = read(pid) ?? 0;
      return async () => (read(pid) ?? start) - start;
    },
  };
}

/** A process' whole CPU under `label`, and its main thread's alone under `label.main`. */
export function processAndMainThreadCpu(label: string, pid: number): CpuSource[] {
  return [processCpu(label, pid), processCpu(`${label}.main`, pid, mainThreadCpuMs)];
}

export interface Window {
  analyses: number;
  throughput: Throughput;
  /** CPU ms per source label over the window. */
  cpuMs: Record<string, number>;
  /** Largest worker RSS since the process started (the kernel's VmHWM, and samples every 250 ms). */
  peakRssMb: number;
  /** Largest worker RSS when the clock started (idle, after startup and any warm-up). */
  startRssMb: number;
  failedJobs: number;
  startedAt: number;
  /** When the last job ended (Date.now()). */
  endedAt: number;
}

export async function measureWindow(options: {
  queue: AnyQueue;
  analyses: number;
  workerPids: number[];
  cpu: CpuSource[];
  timeoutMs: number;
  ended?: () => Promise<number>;
  /** How completion times are read: from the bench's Redis (default), or through the queue's jobs. */
  completions?: "bench-redis" | "jobs";
}): Promise<Window> {
  const { queue, analyses } = options;
  const samplers = options.workerPids.map((pid) => new RssSampler(pid));
  const startRssMb = Math.max(...samplers.map((s) => s.lastMb));
  const ends = await Promise.all(options.cpu.map((source) => source.mark()));
  const startedAt = Date.now();
  await queue.resume();
  try {
    await waitForEnded(queue, analyses, { timeoutMs: options.timeoutMs, pollMs: 100, ended: options.ended });
  } finally {
    for (const s of samplers) s.stop();
  }
  const endedAt = Date.now();
  const spent = await Promise.all(ends.map((end) => end()));
  const cpuMs = Object.fromEntries(options.cpu.map((source, i) => [source.label, spent[i] ?? 0]));
  const times = await completionTimes(queue, options.completions);
  return {
    analyses,
    throughput: throughputOf(times, startedAt),
    cpuMs,
    peakRssMb: Math.max(...samplers.map((s) => s.peakMb)),
    startRssMb,
    failedJobs: await failedCount(queue),
    startedAt,
    endedAt,
  };
}
