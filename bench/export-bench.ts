/**
 * Export bench: peak RSS of `stock-ledger export --what calls` of every call in the stats
 * bench's ledger (generated first if missing), as CSV and as NDJSON. Target: < 200 MB.
 * The export runs as the CLI does, in its own process; /proc/<pid>/status is sampled for
 * VmRSS (now) and VmHWM (peak so far).
 *
 *   npx tsx bench/export-bench.ts                 # 1,000,000 analyses, ~7,000,000 calls
 *   npx tsx bench/export-bench.ts --scale 0.01    # quick run
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { projectRoot } from "../src/paths.js";
import { ensureBenchData } from "./stats-bench-data.js";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    fresh: { type: "boolean", default: false },
    formats: { type: "string", default: "csv,json" },
  },
});
const scale = Number(values.scale);
const data = await ensureBenchData({ scale, fresh: values.fresh });
await data.sql.end();

/** Memory figures of a live process, in MB. */
function memory(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
  } catch {
    return null;
  }
}

interface Run {
  seconds: number;
  peakMb: number;
  samples: { at: number; rss: number }[];
  code: number | null;
  stderr: string;
}

function runExport(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [path.join(projectRoot, "bin", "stock-ledger.js"), ...args], {
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", DATABASE_URL: data.url },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    let peakMb = 0;
    const samples: { at: number; rss: number }[] = [];
    const sample = () => {
      const m = child.pid === undefined ? null : memory(child.pid);
      if (!m) return;
      peakMb = Math.max(peakMb, m.hwm);
      samples.push({ at: performance.now() - started, rss: m.rss });
    };
    const timer = setInterval(sample, 100);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearInterval(timer);
      resolve({ seconds: (performance.now() - started) / 1000, peakMb, samples, code, stderr });
    });
  });
}

/** Largest RSS in the first and last fifth of the run: flat memory means they are close. */
function flatness(samples: { at: number; rss: number }[]): string {
  const end = samples.at(-1)?.at ?? 0;
  const maxIn = (from: number, to: number) =>
    Math.max(0, ...samples.filter((s) => s.at >= from * end && s.at <= to * end).map((s) => s.rss));
  return `${maxIn(0.1, 0.3).toFixed(0)} MB → ${maxIn(0.7, 0.9).toFixed(0)} MB`;
}

const lines = [
  `## export over ${data.analyses.toLocaleString("en-US")} analyses / ${data.calls.toLocaleString("en-US")} calls (scale ${scale})`,
  "",
  "| command | rows | file | seconds | rows/s | peak RSS | RSS 10–30% → 70–90% of the run |",
  "|---|---:|---:|---:|---:|---:|---|",
];
const baseline = await runExport(["stats", "--range", "today", "--json"]);
let worst = 0;
for (const format of (values.formats ?? "").split(",")) {
  const out = path.join(tmpdir(), `stock-ledger-export-bench.${format}`);
  await rm(out, { force: true });
  const args = ["export", "--format", format, "--what", "calls", "--out", out];
  const run = await runExport(args);
  if (run.code !== 0) throw new Error(`export failed (${run.code}): ${run.stderr}`);
  const bytes = (await stat(out)).size;
  await rm(out, { force: true });
  worst = Math.max(worst, run.peakMb);
  lines.push(
    `| \`${args.slice(0, -2).join(" ")} --out FILE\` | ${data.calls.toLocaleString("en-US")} | ${(bytes / 1e9).toFixed(2)} GB | ` +
      `${run.seconds.toFixed(1)} | ${Math.round(data.calls / run.seconds).toLocaleString("en-US")} | ` +
      `${run.peakMb.toFixed(0)} MB | ${flatness(run.samples)} |`,
  );
  process.stderr.write(`  export ${format}: ${run.seconds.toFixed(1)} s, peak ${run.peakMb.toFixed(0)} MB\n`);
}
lines.push(
  "",
  `Peak RSS of \`stats --range today --json\` for comparison (Node + tsx + postgres.js): ${baseline.peakMb.toFixed(0)} MB.`,
  `Worst export peak RSS: ${worst.toFixed(0)} MB (target < 200 MB): ${worst < 200 ? "PASS" : "FAIL"}`,
);
process.stdout.write(`${lines.join("\n")}\n`);
