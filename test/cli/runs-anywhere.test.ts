import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.js";
import { CLI, type CliResult, runProcess } from "../helpers/cli.js";

/**
 * A machine with nothing but Node: each test runs in a network namespace of its own (unshare -n,
 * loopback up), where nothing answers on 5432 or 6379. Needs root, as CI runs.
 */
const canIsolate =
  process.getuid?.() === 0 && spawnSync("unshare", ["-n", "true"], { stdio: "ignore" }).status === 0;

/** Runs a shell script inside a fresh network namespace, with the project's CLI as $SL. */
function isolated(script: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliResult> {
  return runProcess("unshare", ["-n", "sh", "-ec", `ip link set lo up\n${script}`], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      SL: `${process.execPath} ${CLI}`,
      ...env,
    },
    timeoutMs,
    name: "isolated script",
  });
}

const demoTempDirs = () => readdirSync(os.tmpdir()).filter((name) => name.startsWith("stock-ledger-demo-"));

/** PostgreSQL server processes whose command line names `fragment` (a data dir). */
function postgresProcessesOf(fragment: string): string[] {
  const ps = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).stdout;
  return ps.split("\n").filter((line) => line.includes(fragment) && /postgres/.test(line));
}

describe.runIf(canIsolate)("on a machine where nothing answers at the default addresses", () => {
  it("demo runs on an embedded PostgreSQL and its queue backend, says so in one line, and leaves nothing running", async () => {
    const before = new Set(demoTempDirs());
    const result = await isolated("$SL demo", { LOG_LEVEL: "warn" });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.match(/^📊 Token Usage Summary for \S+$/gm)).toEqual([
      "📊 Token Usage Summary for RELIANCE",
      "📊 Token Usage Summary for TCS",
      "📊 Token Usage Summary for INFY",
    ]);
    expect(result.stdout.match(/^Status: completed$/gm)).toHaveLength(3);
    const notices = result.stderr.split("\n").filter((line) => line.startsWith("demo: nothing answers"));
    expect(notices).toEqual([
      "demo: nothing answers as PostgreSQL at 127.0.0.1:5432 or Redis at 127.0.0.1:6379: running on an embedded PostgreSQL of its own (removed at exit), with the queue in PostgreSQL (QUEUE_BACKEND=postgres)",
    ]);
    // Its cluster's temp dir is gone, and with it any server that ran from it.
    expect(demoTempDirs().filter((name) => !before.has(name))).toEqual([]);
    expect(postgresProcessesOf("stock-ledger-demo-")).toEqual([]);
  });

  it("after `eval $(stock-ledger up)`: worker, analyze --wait, summary, stats and serve work with no Redis anywhere", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "sl-test-anywhere-"));
    try {
      const result = await isolated(
        `
eval "$($SL up --dir "$DIR")"
echo "backend=$QUEUE_BACKEND"
$SL worker > "$DIR/worker.log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; $SL down --dir "$DIR"' EXIT
$SL analyze RELIANCE --id anywhere-1 --wait --json > "$DIR/analyze.json"
$SL summary anywhere-1
$SL stats --json > "$DIR/stats.json"
node -e 'console.log("stats_calls=" + JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).totals.calls)' "$DIR/stats.json"
$SL serve --port 3999 > "$DIR/serve.log" 2>&1 &
serve=$!
trap 'kill $serve $worker 2>/dev/null; $SL down --dir "$DIR"' EXIT
for i in $(seq 1 50); do
  if node -e 'fetch("http://127.0.0.1:3999/readyz").then(r => r.text()).then(t => { console.log("readyz=" + t); process.exit(0) }, () => process.exit(1))'; then break; fi
  sleep 0.2
done
`,
        { DIR: dir, LOG_LEVEL: "warn" },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain("backend=postgres");
      expect(result.stdout).toMatch(/^📊 Token Usage Summary for RELIANCE$/m);
      expect(result.stdout).toMatch(/^Status: completed$/m);
      expect(result.stdout).toMatch(/^stats_calls=([1-9]\d*)$/m);
      expect(result.stdout).toContain('readyz={"status":"ready","checks":{"postgres":"ok","queue":"ok"}}');
      // down ran at exit: the data stays, no server is left.
      expect(existsSync(path.join(dir, "data", "PG_VERSION"))).toBe(true);
      expect(postgresProcessesOf(dir)).toEqual([]);
    } finally {
      spawnSync(process.execPath, [CLI, "down", "--dir", dir], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
