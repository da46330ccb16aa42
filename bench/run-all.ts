/**
 * `npm run bench`: every issue-7 bench at sizes that fit in under 10 minutes on a 2-core
 * machine, one table (metric, baseline, stock-ledger, ratio, target, pass/fail), written to
 * bench/results/latest.md as well. `--full` uses the full sizes (3,000 analyses × 3
 * rounds, 100,000 for memory; ~15 minutes here); `--quick` a smoke-test size; `--only NAME`
 * runs one (tracker, critical-path, ledger-overhead, concurrency, memory);
 * `--strict` exits 1 when a target is missed. `--quick` judges no target: at its size start-up
 * dominates every window (item 1 then passes spuriously), so its rows are marked "smoke".
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "../src/paths.js";
import { createSql } from "../src/store/database.js";
import { runConcurrency } from "./concurrency.js";
import { runCriticalPath } from "./critical-path.js";
import { LEDGER_OVERHEAD_DEFAULTS, runLedgerOverhead } from "./ledger-overhead.js";
import { hostSpeedMs } from "./lib/host-speed.js";
import { loadLine } from "./lib/proc.js";
import { type BenchResult, type BenchRow, fmt, formatTable, printResult, stringArg } from "./lib/report.js";
import { PG_SERVER } from "./lib/services.js";
import { runMemory } from "./memory.js";
import { runTrackerMicrobench } from "./tracker-microbench.js";

type Size = "quick" | "default" | "full";

const SIZES: Record<
  Size,
  { overhead: number; rounds: number; concurrency: number; memory: number; tracker: number }
> = {
  quick: { overhead: 300, rounds: 1, concurrency: 300, memory: 2000, tracker: 600_000 },
  default: { overhead: 1500, rounds: 2, concurrency: 800, memory: 5000, tracker: 3_000_000 },
  full: { overhead: 3000, rounds: 3, concurrency: 1500, memory: 100_000, tracker: 6_000_000 },
};

const argv = process.argv;
const size: Size = argv.includes("--full") ? "full" : argv.includes("--quick") ? "quick" : "default";
const only = stringArg(argv, "only");
const s = SIZES[size];

const BENCHES: { name: string; run: () => Promise<BenchResult> }[] = [
  {
    name: "ledger-overhead",
    run: () => runLedgerOverhead({ ...LEDGER_OVERHEAD_DEFAULTS, analyses: s.overhead, rounds: s.rounds }),
  },
  { name: "critical-path", run: () => runCriticalPath({ repeats: 5, latencyMs: 300 }) },
  { name: "concurrency", run: () => runConcurrency({ analyses: s.concurrency, latencyMs: 500 }) },
  { name: "memory", run: () => runMemory({ analyses: s.memory, backlog: 2000 }) },
  { name: "tracker", run: () => runTrackerMicrobench({ calls: s.tracker }) },
];

function tryRun(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

async function machine(): Promise<string> {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const admin = createSql(`${PG_SERVER}/postgres`, { max: 1 });
  const [pg] = await admin<{ v: string }[]>`SELECT current_setting('server_version') AS v`.catch(() => [
    { v: "?" },
  ]);
  await admin.end();
  const redis = tryRun("redis-server", ["--version"]).match(/v=(\S+)/)?.[1] ?? "?";
  const pkg = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { version: string };
  const commit = tryRun("git", ["-C", projectRoot, "rev-parse", "--short", "HEAD"]);
  const dirty = tryRun("git", ["-C", projectRoot, "status", "--porcelain", "src"])
    ? " + uncommitted src changes"
    : "";
  return (
    `${os.cpus().length} × ${cpu}, ${fmt(os.totalmem() / 2 ** 30, 0)} GB RAM, ${os.type()} ${os.release()}; ` +
    `Node ${process.version}, PostgreSQL ${pg?.v}, Redis ${redis}; stock-ledger ${pkg.version} at ${commit}${dirty}`
  );
}

/** At the smoke-test size a row keeps its figures but judges nothing. */
const judged = (result: BenchResult): BenchResult =>
  size === "quick"
    ? { ...result, rows: result.rows.map((r) => ({ ...r, pass: r.pass === null ? null : "smoke" })) }
    : result;

const started = Date.now();
const startedAt = new Date();
const loadAtStart = loadLine();
const hostSpeed = hostSpeedMs();
const results: BenchResult[] = [];
for (const bench of BENCHES.filter((b) => !only || b.name === only)) {
  process.stderr.write(`bench: ${bench.name}…\n`);
  const result = judged(await bench.run());
  printResult(result);
  results.push(result);
}
const rows: BenchRow[] = results.flatMap((r) =>
  r.rows.map((row) => ({ ...row, metric: `${r.name.split(" ")[0]} ${row.metric}` })),
);
const table = formatTable(rows);
const minutes = (Date.now() - started) / 60_000;
const header = [
  `# stock-ledger benchmarks (${size} size)`,
  "",
  `- command: \`npm run bench${argv.slice(2).length ? ` -- ${argv.slice(2).join(" ")}` : ""}\``,
  `- date: ${startedAt.toISOString()}`,
  `- machine: ${await machine()}`,
  `- load: ${loadAtStart} at the start, ${loadLine()} at the end (other work on the machine shows up as noise)`,
  `- host speed: ${fmt(hostSpeed, 0)} ms for bench/lib/host-speed.ts' fixed workload on one core ` +
    "(lower is faster; compare it before comparing absolute figures across runs)",
  ...(size === "quick"
    ? ["- quick size: a smoke test, no target judged (start-up dominates its windows)"]
    : []),
  `- took ${fmt(minutes)} min`,
  "",
];
const body = results.flatMap((r) => [
  `## ${r.name}`,
  "",
  formatTable(r.rows),
  "",
  ...r.notes.map((n) => `- ${n}`),
  "",
]);
const markdown = [...header, "## Summary", "", table, "", ...body].join("\n");
console.log(`\n## Summary (${fmt(minutes)} min)\n\n${table}`);
const dir = path.join(projectRoot, "bench", "results");
mkdirSync(dir, { recursive: true });
writeFileSync(path.join(dir, "latest.md"), `${markdown}\n`);
console.log(`\nwritten to ${path.relative(process.cwd(), path.join(dir, "latest.md"))}`);
// Missed targets fail the command only when asked: the table is the output.
process.exit(argv.includes("--strict") && rows.some((r) => r.pass === false) ? 1 : 0);
