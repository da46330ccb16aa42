/**
 * How long a worker's ledger writes waited from submit to commit, from its /metrics
 * (`stock_ledger_ledger_write_wait_seconds`, `stock-ledger worker --metrics-port`). An analysis
 * waits in turn for its claim, its five first calls' start markers, their closing rows,
 * final_decision's marker and closing row, and its finalize: at L = 500 ms these waits are
 * what separates an analysis' wall time from 2L.
 */
import { fmt } from "./report.js";

export interface WriteWaits {
  /** Per kind of write (claim, call, finalize): how many, and their waits summed. */
  writes: Record<string, { count: number; seconds: number }>;
  /** The busiest worker's event-loop delay since it started (prom-client's), seconds. */
  loopDelay: { mean: number; p99: number };
}

const SAMPLE = /^stock_ledger_ledger_write_wait_seconds_(sum|count)\{write="(\w+)"\} (\S+)$/;
const LOOP_DELAY = /^nodejs_eventloop_lag_(mean|p99)_seconds (\S+)$/;

export async function scrapeWriteWaits(metricsUrls: string[]): Promise<WriteWaits> {
  const waits: WriteWaits = { writes: {}, loopDelay: { mean: 0, p99: 0 } };
  for (const url of metricsUrls) {
    const text = await (await fetch(url)).text();
    for (const line of text.split("\n")) {
      const delay = LOOP_DELAY.exec(line);
      if (delay) {
        const key = delay[1] as "mean" | "p99";
        waits.loopDelay[key] = Math.max(waits.loopDelay[key], Number(delay[2]));
      }
      const match = SAMPLE.exec(line);
      if (!match) continue;
      const [, field, write, value] = match as unknown as [string, "sum" | "count", string, string];
      const entry = waits.writes[write] ?? { count: 0, seconds: 0 };
      waits.writes[write] = entry;
      if (field === "sum") entry.seconds += Number(value);
      else entry.count += Number(value);
    }
  }
  return waits;
}

/**
 * The writes between two scrapes of the same workers. The event-loop delay is already the
 * second scrape's alone: prom-client starts its monitor afresh at every scrape.
 */
export function writeWaitsSince(before: WriteWaits, after: WriteWaits): WriteWaits {
  const writes: WriteWaits["writes"] = {};
  for (const [write, entry] of Object.entries(after.writes)) {
    const earlier = before.writes[write] ?? { count: 0, seconds: 0 };
    writes[write] = { count: entry.count - earlier.count, seconds: entry.seconds - earlier.seconds };
  }
  return { writes, loopDelay: after.loopDelay };
}

/** "claim 9.7 ms (1.0 per analysis), call 28.5 ms (12.0 …), …; event-loop delay …": mean waits and counts. */
export function describeWriteWaits(waits: WriteWaits, analyses: number): string {
  const writes = ["claim", "call", "finalize"].map((write) => {
    const entry = waits.writes[write];
    if (!entry || entry.count === 0) return `${write} n/a`;
    return `${write} ${fmt((entry.seconds * 1000) / entry.count, 1)} ms (${fmt(entry.count / analyses, 1)} per analysis)`;
  });
  const { mean, p99 } = waits.loopDelay;
  return `${writes.join(", ")}; event-loop delay mean ${fmt(mean * 1000, 1)} ms, p99 ${fmt(p99 * 1000, 1)} ms`;
}
