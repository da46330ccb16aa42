/**
 * Export bench: peak RSS of `stock-ledger export --what calls` of every call in the stats
 * bench's ledger (generated first if missing), as CSV and as NDJSON. Target: < 200 MB.
 * The export runs as the CLI does, in its own process; /proc/<pid>/status is sampled for
 * VmRSS (now) and VmHWM (peak so far). Two ways of running the CLI are measured: from the
 * checkout (bin/stock-ledger.js running the esbuild-compiled src/) and built (tsc output in
 * dist/, as the Docker image runs it; built into a temporary directory, with --built).
 *
 *   npx tsx bench/export-bench.ts                 # 1,000,000 analyses, ~7,000,000 calls
 *   npx tsx bench/export-bench.ts --scale 0.01    # quick run
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, stat, symlink } from "node:fs/promises";
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
    built: { type: "boolean", default: false },
  },
});
const scale = Number(values.scale);
const data = await ensureBenchData({ scale, fresh: values.fresh });
await data.sql.end();

/** A copy of the app laid out as the Docker image has it: dist/, bin/, sql/, data/, node_modules. */
async function buildCli(): Promise<{ cli: string; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), "stock-ledger-built-"));
  const tsc = path.join(projectRoot, "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", path.join(dir, "dist")], {
      cwd: projectRoot,
      stdio: "ignore",
    });
  } catch {
    // Type errors elsewhere in the tree still emit JavaScript; only a missing entry point matters.
  }
  if (!existsSync(path.join(dir, "dist", "src", "cli", "main.js"))) throw new Error("tsc produced no dist/");
  await mkdir(path.join(dir, "bin"));
  await copyFile(path.join(projectRoot, "bin", "stock-ledger.js"), path.join(dir, "bin", "stock-ledger.js"));
  await copyFile(path.join(projectRoot, "package.json"), path.join(dir, "package.json"));
  for (const link of ["node_modules", "sql", "data"])
    await symlink(path.join(projectRoot, link), path.join(dir, link));
  return { cli: path.join(dir, "bin", "stock-ledger.js"), dir };
}

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

function runExport(cli: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], {
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
  "| CLI | command | rows | file | seconds | rows/s | peak RSS | RSS 10–30% → 70–90% of the run |",
  "|---|---|---:|---:|---:|---:|---:|---|",
];
const clis = [{ name: "checkout (tsx)", cli: path.join(projectRoot, "bin", "stock-ledger.js") }];
const built = values.built ? await buildCli() : null;
if (built) clis.push({ name: "built (dist/)", cli: built.cli });
const baselines: string[] = [];
let worst = 0;
for (const { name, cli } of clis) {
  const baseline = await runExport(cli, ["stats", "--range", "today", "--json"]);
  baselines.push(`${name} ${baseline.peakMb.toFixed(0)} MB`);
  for (const format of (values.formats ?? "").split(",")) {
    const out = path.join(tmpdir(), `stock-ledger-export-bench.${format}`);
    await rm(out, { force: true });
    const args = ["export", "--format", format, "--what", "calls", "--out", out];
    const run = await runExport(cli, args);
    if (run.code !== 0) throw new Error(`export failed (${run.code}): ${run.stderr}`);
    const bytes = (await stat(out)).size;
    await rm(out, { force: true });
    worst = Math.max(worst, run.peakMb);
    lines.push(
      `| ${name} | \`${args.slice(0, -2).join(" ")} --out FILE\` | ${data.calls.toLocaleString("en-US")} | ` +
        `${(bytes / 1e9).toFixed(2)} GB | ${run.seconds.toFixed(1)} | ` +
        `${Math.round(data.calls / run.seconds).toLocaleString("en-US")} | ${run.peakMb.toFixed(0)} MB | ${flatness(run.samples)} |`,
    );
    process.stderr.write(
      `  ${name} export ${format}: ${run.seconds.toFixed(1)} s, peak ${run.peakMb.toFixed(0)} MB\n`,
    );
  }
}
if (built) await rm(built.dir, { recursive: true, force: true });
lines.push(
  "",
  `Peak RSS of \`stats --range today --json\` for comparison (loading the CLI): ${baselines.join(", ")}.`,
  `Worst export peak RSS: ${worst.toFixed(0)} MB (target < 200 MB): ${worst < 200 ? "PASS" : "FAIL"}`,
);
process.stdout.write(`${lines.join("\n")}\n`);
