/** Waiting for a batch of jobs to end, and the completion times BullMQ recorded for them. */
import { setTimeout as sleep } from "node:timers/promises";
import type { IQueueBackend, Queue } from "bullmq";
import { Redis } from "ioredis";
import { REDIS_URL } from "./services.js";

/** A queue on either backend (the bench only reads counts and jobs). */
// biome-ignore lint/suspicious/noExplicitAny: job data and connection types do not matter here
export type AnyQueue = Queue<any, any, string, any, any, string, IQueueBackend, any>;

export interface WaitOptions {
  timeoutMs: number;
  pollMs?: number;
  /** How many have ended so far; default: the queue's completed + failed counts. */
  ended?: () => Promise<number>;
  onPoll?: (ended: number) => void | Promise<void>;
}

/** Polls until `expected` jobs have ended; throws on timeout. */
export async function waitForEnded(queue: AnyQueue, expected: number, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const ended =
    options.ended ??
    (async () => {
      const counts = await queue.getJobCounts("completed", "failed");
      return (counts.completed ?? 0) + (counts.failed ?? 0);
    });
  for (;;) {
    const n = await ended();
    await options.onPoll?.(n);
    if (n >= expected) return;
    if (Date.now() > deadline)
      throw new Error(`only ${n} of ${expected} jobs ended within ${options.timeoutMs} ms`);
    await sleep(options.pollMs ?? 200);
  }
}

/**
 * `finishedOn` (ms) of every completed job, ascending. On the bench's Redis, the completed set's
 * scores in one read; elsewhere (the PostgreSQL backend, a Redis Cluster), the jobs themselves,
 * a page at a time, through the queue.
 */
export async function completionTimes(
  queue: AnyQueue,
  read: "bench-redis" | "jobs" = "bench-redis",
): Promise<number[]> {
  if (read === "jobs") {
    const times: number[] = [];
    for (let start = 0; ; start += 1000) {
      const jobs = await queue.getJobs(["completed"], start, start + 999, true);
      for (const job of jobs) if (job?.finishedOn) times.push(job.finishedOn);
      if (jobs.length < 1000) break;
    }
    return times.sort((a, b) => a - b);
  }
  const client = new Redis(REDIS_URL);
  const flat = await client
    .zrange(queue.toKey("completed"), 0, -1, "WITHSCORES")
    .finally(() => client.disconnect());
  const times: number[] = [];
  for (let i = 1; i < flat.length; i += 2) times.push(Number(flat[i]));
  return times.sort((a, b) => a - b);
}

export async function failedCount(queue: AnyQueue): Promise<number> {
  return (await queue.getJobCounts("failed")).failed ?? 0;
}

export interface Throughput {
  /** Analyses per second from the start signal to the last completion. */
  overall: number;
  /** Between the 10th and 90th percentile completion: the rate once ramp-up is over. */
  steady: number;
  wallMs: number;
}

export function throughputOf(times: number[], startMs: number): Throughput {
  const n = times.length;
  const last = times[n - 1] ?? startMs;
  const wallMs = Math.max(1, last - startMs);
  const lo = Math.floor(n * 0.1);
  const hi = Math.max(lo + 1, Math.floor(n * 0.9) - 1);
  const span = (times[hi] ?? last) - (times[lo] ?? startMs);
  return {
    overall: (n * 1000) / wallMs,
    steady: span > 0 ? ((hi - lo) * 1000) / span : (n * 1000) / wallMs,
    wallMs,
  };
}
