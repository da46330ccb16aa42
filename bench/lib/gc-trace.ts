/**
 * V8's garbage collector, per analysis, from a worker started with `--trace-gc-nvp` (one
 * `name=value` line per collection on stdout). The CPU profile shows only the main thread's GC
 * pauses; concurrent marking and parallel scavenging run on V8's own threads and show up only
 * in the process CPU, so this is where a worker's GC cost is seen whole.
 */
import { fmt } from "./report.js";

interface GcEvent {
  /** When the line arrived (Date.now()), to cut the events to a measured window. */
  at: number;
  kind: "scavenge" | "mark-compact" | "other";
  allocatedBytes: number;
  promotedBytes: number;
  pauseMs: number;
  /** Work V8's background threads did for this collection (marking, scavenging, sweeping...). */
  backgroundMs: number;
}

export interface GcSummary {
  analyses: number;
  allocatedKb: number;
  promotedKb: number;
  scavenges: number;
  markCompacts: number;
  /** Main-thread pause, ms per analysis. */
  pauseMs: number;
  /** Background-thread GC work, ms per analysis. */
  backgroundMs: number;
}

export const GC_TRACE_FLAG = "--trace-gc-nvp";

function parseLine(line: string, at: number): GcEvent | null {
  const body = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: (pause=.*)$/.exec(line.trim())?.[1];
  if (!body) return null;
  const fields = new Map<string, string>();
  for (const pair of body.split(" ")) {
    const eq = pair.indexOf("=");
    if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const num = (name: string) => Number(fields.get(name) ?? 0) || 0;
  let backgroundMs = 0;
  for (const [name, value] of fields) if (name.startsWith("background.")) backgroundMs += Number(value) || 0;
  const gc = fields.get("gc");
  return {
    at,
    kind: gc === "s" ? "scavenge" : gc === "mc" ? "mark-compact" : "other",
    allocatedBytes: num("allocated"),
    promotedBytes: num("promoted"),
    pauseMs: num("pause"),
    backgroundMs,
  };
}

/** Collects a child's GC lines as they arrive; `summary` sums those inside a window. */
export class GcTrace {
  readonly #events: GcEvent[] = [];
  #partial = "";

  /** Feed it the child's stdout. */
  readonly onOutput = (chunk: string): void => {
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop() ?? "";
    const now = Date.now();
    for (const line of lines) {
      const event = parseLine(line, now);
      if (event) this.#events.push(event);
    }
  };

  summary(window: { from: number; to: number }, analyses: number): GcSummary {
    const inWindow = this.#events.filter((e) => e.at >= window.from && e.at <= window.to);
    const sum = (pick: (e: GcEvent) => number) => inWindow.reduce((total, e) => total + pick(e), 0);
    return {
      analyses,
      // V8 reports what was allocated since the previous collection of any kind; summed over
      // scavenges only, so a mark-compact's figure (which repeats part of it) is not counted twice.
      allocatedKb: sum((e) => (e.kind === "scavenge" ? e.allocatedBytes : 0)) / 1024 / analyses,
      promotedKb: sum((e) => e.promotedBytes) / 1024 / analyses,
      scavenges: inWindow.filter((e) => e.kind === "scavenge").length,
      markCompacts: inWindow.filter((e) => e.kind === "mark-compact").length,
      pauseMs: sum((e) => e.pauseMs) / analyses,
      backgroundMs: sum((e) => e.backgroundMs) / analyses,
    };
  }
}

/** Baseline and stock-ledger side by side, one line per measure. */
export function compareGc(baseline: GcSummary, product: GcSummary): string[] {
  const row = (label: string, a: number, b: number, digits: number) =>
    `  ${label}: ${fmt(a, digits)} → ${fmt(b, digits)} (${b - a >= 0 ? "+" : ""}${fmt(b - a, digits)})`;
  return [
    `garbage collection per analysis (V8 --trace-gc-nvp; baseline → stock-ledger), ${baseline.analyses} analyses per side:`,
    row("allocated KB", baseline.allocatedKb, product.allocatedKb, 0),
    row("promoted to old space KB", baseline.promotedKb, product.promotedKb, 0),
    row("main-thread GC pause ms", baseline.pauseMs, product.pauseMs, 2),
    row("background-thread GC ms", baseline.backgroundMs, product.backgroundMs, 2),
    `  collections in the window: ${baseline.scavenges} → ${product.scavenges} scavenges, ${baseline.markCompacts} → ${product.markCompacts} mark-compacts`,
  ];
}
