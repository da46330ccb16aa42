import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { portAnswers } from "../../src/embedded/postgres-process.js";
import { freePort } from "./cli.js";

export interface PgBouncerHandle {
  /** postgres://postgres@127.0.0.1:<port> (append /<database>). */
  server: string;
  port: number;
  /** Stops it (SIGKILL when `hard`), for restart tests; `start` brings it back on the same port. */
  stop(hard?: boolean): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export const hasPgBouncer = () => spawnSync("pgbouncer", ["--version"], { stdio: "ignore" }).status === 0;

/**
 * A PgBouncer of the test's own in transaction pooling in front of `upstream` (host:port of a
 * PostgreSQL with trust auth), any database name passed through. Root cannot run it: as root
 * it drops to the `postgres` user (`-u`).
 */
export async function startPgBouncer(upstream = { host: "127.0.0.1", port: 5432 }): Promise<PgBouncerHandle> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sl-pgbouncer-"));
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    path.join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=${upstream.host} port=${upstream.port} user=postgres`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = any",
      "pool_mode = transaction",
      "max_client_conn = 500",
      "default_pool_size = 5",
      "ignore_startup_parameters = extra_float_digits,options,application_name",
      `logfile = ${path.join(dir, "pgbouncer.log")}`,
      `pidfile = ${path.join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
  );
  if (asRoot) {
    const ids = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    const gids = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
    chownSync(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
    chmodSync(dir, 0o755);
  }
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = [...(asRoot ? ["-u", "postgres"] : []), path.join(dir, "pgbouncer.ini")];
    child = spawn("pgbouncer", args, { stdio: "ignore" });
    for (let i = 0; !(await portAnswers(port)); i++) {
      if (i > 100) throw new Error("pgbouncer did not start");
      await sleep(50);
    }
  };
  const stop = async (hard = false) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill(hard ? "SIGKILL" : "SIGINT");
    await exited;
  };
  await start();
  return {
    server: `postgres://postgres@127.0.0.1:${port}`,
    port,
    stop,
    start,
    async close() {
      await stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
