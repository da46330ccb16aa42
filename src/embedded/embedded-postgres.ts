import { existsSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import path from "node:path";
import { logger } from "../logger.js";
import { ensureDatabase } from "../store/migrate.js";
import { tieToProcess } from "./ephemeral-cleanup.js";
import { EmbeddedPostgresError, initialiseCluster } from "./postgres-package.js";
import {
  choosePort,
  isPostmasterOf,
  portAnswers,
  postmasterLock,
  startPostmaster,
  stopPostmaster,
} from "./postgres-process.js";
import {
  assertServerCanReach,
  clusterPassword,
  prepareDir,
  readState,
  type ServerFiles,
  type ServerState,
  serverFiles,
  writeState,
} from "./server-dir.js";

export { EmbeddedPostgresError, type EmbeddedPostgresFailure } from "./postgres-package.js";
export { defaultEmbeddedDir } from "./server-dir.js";

/** Tried first so that DATABASE_URL stays the same from one `up` to the next. */
const PREFERRED_PORT = 54329;
const DATABASE = "stock_ledger";

export interface StartEmbeddedPostgresOptions {
  /** Holds the cluster (data/), its log, its password and stock-ledger.json. */
  dir: string;
  /** Default: 54329 when free, else a free port. */
  port?: number;
  /**
   * true (`up`): the server outlives this process until `down`. false (ephemeral): the server
   * belongs to this process, which stops it at exit, and stop() deletes `dir`, which must
   * therefore be new or empty.
   */
  detached: boolean;
  /** One line per step a user waits for (creating a cluster takes about a second). */
  onProgress?: (line: string) => void;
}

export interface EmbeddedPostgresServer {
  /** postgres://postgres:<password>@127.0.0.1:<port>/stock_ledger (password in DIR/password). */
  url: string;
  port: number;
  dir: string;
  /** The postmaster's pid. */
  pid: number;
  /** True when an earlier `up` had already started it. */
  reused: boolean;
  stop(): Promise<void>;
}

/** Starts a server in `dir`, or finds the one an earlier `up` started there. */
export async function startEmbeddedPostgres(
  options: StartEmbeddedPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const dir = path.resolve(options.dir);
  await prepareDir(dir, !options.detached);
  if (options.detached) return start(dir, options);
  try {
    return await start(dir, options);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function start(dir: string, options: StartEmbeddedPostgresOptions): Promise<EmbeddedPostgresServer> {
  const files = serverFiles(dir);
  const password = await clusterPassword(files);
  const running = await findRunning(files, password);
  if (running) {
    if (running.adopted) {
      // A server stock-ledger.json had lost track of: describe it again.
      await ensureDatabase(running.state.url, logger.child({}, { level: "warn" }));
      await writeState(files.state, running.state);
    }
    return serverHandle(dir, running.state, true);
  }
  if (!existsSync(path.join(files.data, "PG_VERSION"))) {
    options.onProgress?.(`initialising a PostgreSQL cluster in ${files.data}`);
    // A failed initdb leaves a partial directory that initdb refuses to reuse.
    await rm(files.data, { recursive: true, force: true });
    await initialiseCluster(files.data, password).catch((error) => {
      assertServerCanReach(dir);
      throw error;
    });
  }
  assertServerCanReach(dir);
  const { pid, port } = await startOnFreePort(files, options.port);
  const state: ServerState = {
    pid,
    port,
    url: urlFor(password, port),
    startedAt: new Date().toISOString(),
    detached: options.detached,
  };
  const untie = options.detached ? undefined : tieToProcess(pid, dir);
  try {
    await ensureDatabase(state.url, logger.child({}, { level: "warn" }));
    await writeState(files.state, state);
  } catch (error) {
    untie?.();
    await stopPostmaster(pid);
    throw error;
  }
  return serverHandle(dir, state, false, untie);
}

/** Stops the server an `up` started in `dir`; the data stays. `stopped: false` when none ran. */
export async function stopEmbeddedPostgres(dir: string): Promise<{ stopped: boolean; pid?: number }> {
  const resolved = path.resolve(dir);
  const files = serverFiles(resolved);
  const info = await stat(resolved).catch(() => undefined);
  if (!info) return { stopped: false };
  if (!info.isDirectory()) throw new EmbeddedPostgresError("bad-dir", `not a directory: ${resolved}`);
  // PostgreSQL's own lock file covers a server whose stock-ledger.json was lost.
  const candidates = [(await readState(files.state))?.pid, postmasterLock(files.data)?.pid];
  const pid = candidates.find(
    (candidate) => candidate !== undefined && isPostmasterOf(candidate, files.data),
  );
  if (pid !== undefined) await stopPostmaster(pid);
  await rm(files.state, { force: true });
  return pid === undefined ? { stopped: false } : { stopped: true, pid };
}

function urlFor(password: string, port: number): string {
  return `postgres://postgres:${password}@127.0.0.1:${port}/${DATABASE}`;
}

/** The running server of `dir`: its pid is a live postmaster of the cluster AND its port answers. */
async function findRunning(
  files: ServerFiles,
  password: string,
): Promise<{ state: ServerState; adopted: boolean } | undefined> {
  const state = await readState(files.state);
  if (state && isPostmasterOf(state.pid, files.data) && (await portAnswers(state.port))) {
    return { state, adopted: false };
  }
  const lock = postmasterLock(files.data);
  if (!lock) return undefined;
  if (isPostmasterOf(lock.pid, files.data)) {
    if (!(await portAnswers(lock.port))) return undefined;
    const { pid, port } = lock;
    return {
      state: { pid, port, url: urlFor(password, port), startedAt: new Date().toISOString(), detached: true },
      adopted: true,
    };
  }
  // Left by a killed server; its pid may since belong to another process, which would stop a start.
  await rm(path.join(files.data, "postmaster.pid"), { force: true });
  return undefined;
}

async function startOnFreePort(
  files: ServerFiles,
  requested: number | undefined,
): Promise<{ pid: number; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = requested ?? (await choosePort(attempt === 1 ? PREFERRED_PORT : 0));
    try {
      return { pid: await startPostmaster({ dataDir: files.data, logFile: files.log, port }), port };
    } catch (error) {
      // Another process bound the port between our check and the server's bind: take another.
      const portTaken = error instanceof EmbeddedPostgresError && error.reason === "port-in-use";
      if (!portTaken || requested !== undefined || attempt >= 3) throw error;
    }
  }
}

function serverHandle(
  dir: string,
  state: ServerState,
  reused: boolean,
  untie?: () => void,
): EmbeddedPostgresServer {
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    if (!untie) {
      await stopEmbeddedPostgres(dir);
      return;
    }
    untie();
    await stopPostmaster(state.pid);
    await rm(dir, { recursive: true, force: true });
  };
  return { url: state.url, port: state.port, dir, pid: state.pid, reused, stop: () => (stopping ??= stop()) };
}
