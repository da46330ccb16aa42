/**
 * A fixed CPU workload timed on one core, printed in the bench header: the hosts this project
 * runs on have differed by up to ~2.5× between hosts, and the absolute targets (item 3's
 * analyses/s, item 5's calls/s) move with them while the ratios mostly do not. The workload is
 * the kind the worker does per call: JSON text built and parsed, hashed, small objects made.
 */
import { createHash } from "node:crypto";
import { median } from "./report.js";

function workload(): number {
  const record = {
    callType: "comprehensive_overview",
    usage: { promptTokenCount: 1520, candidatesTokenCount: 312, thoughtsTokenCount: 88 },
    text: "The trend is intact above the 50-day average; volume confirms. ".repeat(12),
  };
  let check = 0;
  for (let i = 0; i < 20_000; i++) {
    const json = JSON.stringify({ ...record, attempt: i });
    const parsed = JSON.parse(json) as { attempt: number; text: string };
    const digest = createHash("sha256").update(parsed.text).digest();
    check += parsed.attempt + (digest[0] ?? 0);
  }
  return check;
}

/** Median wall ms of the workload over `runs` runs, after one unmeasured warm-up. */
export function hostSpeedMs(runs = 5): number {
  workload();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    workload();
    times.push(performance.now() - t0);
  }
  return median(times);
}
