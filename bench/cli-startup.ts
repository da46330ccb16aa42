/**
 * CLI start-up: wall time of `stock-ledger --help`, `--version` and `list --limit 1` (against a
 * fresh, migrated database of its own), each run 10 times after one warm-up, beside bare
 * `node -e 0` measured in the same run. Each run is a new process spawned as a user's shell would
 * (`node bin/stock-ledger.js …`), timed from spawn to exit. Targets: --help < 200 ms, list < 300 ms.
 *
 *   npx tsx bench/cli-startup.ts                      # this checkout's bin/stock-ledger.js
 *   npx tsx bench/cli-startup.ts --runs 20
 *   npx tsx bench/cli-startup.ts --cli /path/to/other/checkout/bin/stock-ledger.js
 *
 * The warm-up also builds dist/esbuild/ when src/ changed since the last run, so the timed runs
 * measure a fresh build, as every run after an edit's first does.
 */
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { projectRoot } from "../src/paths.js";
import { fmt, median } from "./lib/report.js";
import { createBenchDatabase } from "./lib/services.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    cli: { type: "string", default: path.join(projectRoot, "bin", "stock-ledger.js") },
  },
});
const runs = Number(values.runs);
const cli = path.resolve(values.cli);

interface Case {
  name: string;
  args: string[];
  /** Target for the median, ms; null: none. */
  target: number | null;
}

const CASES: Case[] = [
  { name: "`node -e 0` (baseline)", args: ["-e", "0"], target: null },
  { name: "`stock-ledger --help`", args: [cli, "--help"], target: 200 },
  { name: "`stock-ledger --version`", args: [cli, "--version"], target: 200 },
  { name: "`stock-ledger list --limit 1`", args: [cli, "list", "--limit", "1"], target: 300 },
];

/** Exit codes other than 0 seen per case (an older checkout has no --version, for one). */
const failures = new Map<Case, string>();

function timeOnce(c: Case, env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, c.args, {
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const ms = performance.now() - started;
  if (result.status !== 0) failures.set(c, `exit ${result.status}: ${result.stderr.trim().split("\n")[0]}`);
  return ms;
}

const db = await createBenchDatabase();
try {
  // Only what a user's shell would pass: no NODE_OPTIONS or loader from the bench's own tsx.
  const env = { PATH: process.env.PATH ?? "", DATABASE_URL: db.url, LOG_LEVEL: "warn" };
  const samples = new Map<Case, number[]>(CASES.map((c) => [c, []]));
  for (const c of CASES) timeOnce(c, env); // warm-up (and the build, if src/ changed)
  // Interleaved, so a burst of load elsewhere on the machine hits every case alike.
  for (let run = 0; run < runs; run++) for (const c of CASES) samples.get(c)?.push(timeOnce(c, env));

  const baseline = median(samples.get(CASES[0] as Case) ?? []);
  const lines = [
    "| command | median ms | min ms | max ms | × `node -e 0` | target | pass/fail |",
    "|---|---:|---:|---:|---:|---|---|",
  ];
  for (const c of CASES) {
    const times = samples.get(c) ?? [];
    const mid = median(times);
    lines.push(
      `| ${c.name} | ${fmt(mid, 0)} | ${fmt(Math.min(...times), 0)} | ${fmt(Math.max(...times), 0)} | ` +
        `${fmt(mid / baseline, 2)} | ${c.target === null ? "" : `< ${c.target} ms`} | ` +
        `${failures.get(c) ?? (c.target === null ? "" : mid < c.target ? "PASS" : "FAIL")} |`,
    );
  }
  console.log(`CLI start-up, median of ${runs} runs after one warm-up each (${cli})\n`);
  console.log(lines.join("\n"));
  console.log(
    `\n${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, Node ${process.version}, ` +
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
  );
} finally {
  await db.drop();
}
