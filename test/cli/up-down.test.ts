import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/embedded/embedded-postgres.js";
import { portAnswers } from "../../src/embedded/postgres-process.js";
import { projectRoot } from "../../src/paths.js";
import { runCli } from "../helpers/cli.js";

/** `up`'s stdout: exactly the two export lines; returns the DATABASE_URL. */
function exportedUrl(stdout: string): string {
  const lines = stdout.trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[1]).toBe("export QUEUE_BACKEND=postgres");
  const value = lines[0]?.match(/^export DATABASE_URL=(.+)$/)?.[1] ?? "";
  return value.startsWith("'") ? value.slice(1, -1).replaceAll("'\\''", "'") : value;
}

async function query<T extends readonly object[]>(
  url: string,
  run: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

/** Gone, or a zombie waiting for a slow init to reap it. */
function processGone(pid: number): boolean {
  try {
    return execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" })
      .trim()
      .startsWith("Z");
  } catch {
    return true;
  }
}

async function waitUntilGone(pid: number): Promise<void> {
  for (let i = 0; i < 200 && !processGone(pid); i++) await sleep(25);
}

/** Postmasters serving `dataDir` (their children retitle themselves, so only these show `-D dataDir`). */
function postmastersOf(dataDir: string): number[] {
  const lines = execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" }).split("\n");
  return lines
    .map((line) => line.trim().split(/\s+/))
    .filter(([, stat, ...args]) => !stat?.startsWith("Z") && args.join(" ").includes(`-D ${dataDir} `))
    .map(([pid]) => Number(pid));
}

function statePid(dir: string): number {
  return JSON.parse(readFileSync(path.join(dir, "stock-ledger.json"), "utf8")).pid;
}

describe("stock-ledger up / down", () => {
  // mkdtemp's 0700 directory, as a user would pass: under root, up must open it to the postgres user.
  const dir = mkdtempSync(path.join(os.tmpdir(), "stock-ledger-up-"));
  const dataDir = path.join(dir, "data");
  let firstStdout = "";

  afterAll(async () => {
    await runCli(["down", "--dir", dir], {});
    for (const pid of postmastersOf(dataDir)) process.kill(pid, "SIGQUIT");
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints the two export lines; the server answers after the CLI has exited", async () => {
    const up = await runCli(["up", "--dir", dir], {});
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/embedded PostgreSQL started at 127\.0\.0\.1:\d+ \(pid \d+\)/);
    expect(up.stderr).toContain(`stock-ledger down --dir ${dir}`);
    firstStdout = up.stdout;
    const url = exportedUrl(up.stdout);
    expect(url).toMatch(/^postgres:\/\/postgres:[0-9a-f]+@127\.0\.0\.1:\d+\/stock_ledger$/);
    expect(new URL(url).port).not.toBe("5432");
    // Past the CLI's exit and its exit hooks.
    await sleep(300);
    const [row] = await query(url, (sql) => sql`select current_database() as name, 1 as one`);
    expect(row).toEqual({ name: "stock_ledger", one: 1 });
    await query(url, (sql) =>
      sql`create table kept (note text)`.then(() => sql`insert into kept values ('before down')`),
    );
  });

  it("a second up reports the same URL and starts no second server", async () => {
    const pid = statePid(dir);
    const again = await runCli(["up", "--dir", dir], {});
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(firstStdout);
    expect(again.stderr).toContain(`already running at 127.0.0.1:${new URL(exportedUrl(firstStdout)).port}`);
    expect(statePid(dir)).toBe(pid);
    expect(postmastersOf(dataDir)).toEqual([pid]);
  });

  it("down stops the server and leaves its data; a second down says none runs", async () => {
    const pid = statePid(dir);
    const port = Number(new URL(exportedUrl(firstStdout)).port);
    const down = await runCli(["down", "--dir", dir], {});
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toBe("");
    expect(down.stderr).toBe(`stopped embedded PostgreSQL (pid ${pid}); its data stays in ${dir}\n`);
    expect(processGone(pid)).toBe(true);
    expect(await portAnswers(port)).toBe(false);
    expect(existsSync(path.join(dataDir, "PG_VERSION"))).toBe(true);

    const again = await runCli(["down", "--dir", dir], {});
    expect(again.code).toBe(0);
    expect(again.stderr).toBe(`no embedded PostgreSQL running in ${dir}\n`);
  });

  it("up after down serves the data created before", async () => {
    const up = await runCli(["up", "--dir", dir], {});
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain("embedded PostgreSQL started at");
    const rows = await query(exportedUrl(up.stdout), (sql) => sql`select note from kept`);
    expect(rows).toEqual([{ note: "before down" }]);
  });

  it("after kill -9 of the server, up starts a fresh one on the same data", async () => {
    const killed = statePid(dir);
    process.kill(killed, "SIGKILL");
    await waitUntilGone(killed);
    // Both lock files now name a dead process.
    expect(existsSync(path.join(dataDir, "postmaster.pid"))).toBe(true);

    const up = await runCli(["up", "--dir", dir], {});
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain("embedded PostgreSQL started at");
    const pid = statePid(dir);
    expect(pid).not.toBe(killed);
    expect(postmastersOf(dataDir)).toEqual([pid]);
    const rows = await query(exportedUrl(up.stdout), (sql) => sql`select note from kept`);
    expect(rows).toEqual([{ note: "before down" }]);
  });

  it("--dir naming a file: exit 2 with one line", async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), "stock-ledger-up-file-"));
    const file = path.join(parent, "not-a-dir");
    writeFileSync(file, "x");
    try {
      for (const command of ["up", "down"]) {
        const result = await runCli([command, "--dir", file], {});
        expect(result.code).toBe(2);
        expect(result.stdout).toBe("");
        expect(result.stderr).toBe(`stock-ledger: not a directory: ${file}\n`);
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("ephemeral embedded PostgreSQL (demo's fallback)", () => {
  it("start, query, stop: the directory is gone and no server process is left", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "stock-ledger-ephemeral-"));
    const server = await startEmbeddedPostgres({ dir, detached: false });
    expect(server.reused).toBe(false);
    const [row] = await query(server.url, (sql) => sql`select current_database() as name`);
    expect(row).toEqual({ name: "stock_ledger" });

    await server.stop();
    expect(existsSync(dir)).toBe(false);
    expect(processGone(server.pid)).toBe(true);
    expect(await portAnswers(server.port)).toBe(false);
  });

  it("a process that dies of an error takes its ephemeral server and directory with it", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "stock-ledger-ephemeral-"));
    const module = path.join(projectRoot, "src", "embedded", "embedded-postgres.ts");
    const script = `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(module)});
      const server = await startEmbeddedPostgres({ dir: ${JSON.stringify(dir)}, detached: false });
      process.stdout.write(String(server.pid));
      throw new Error("demo failed");`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(1);
    const pid = Number(stdout);
    expect(pid).toBeGreaterThan(0);
    expect(processGone(pid)).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });
});
