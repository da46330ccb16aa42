import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { access, chmod, constants, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EmbeddedPostgresError, isRoot, serverUser } from "./postgres-package.js";

/** What lives in an embedded server's DIR. */
export function serverFiles(dir: string) {
  return {
    data: path.join(dir, "data"),
    log: path.join(dir, "postgres.log"),
    password: path.join(dir, "password"),
    state: path.join(dir, "stock-ledger.json"),
  };
}
export type ServerFiles = ReturnType<typeof serverFiles>;

/** What stock-ledger.json says, so a later `up` or `down` finds the server. */
export interface ServerState {
  pid: number;
  port: number;
  url: string;
  startedAt: string;
  detached: boolean;
}

/** The user's data directory + stock-ledger/postgres. */
export function defaultEmbeddedDir(
  env: NodeJS.ProcessEnv = process.env,
  platform = process.platform,
): string {
  const home = os.homedir();
  if (platform === "darwin")
    return path.join(home, "Library", "Application Support", "stock-ledger", "postgres");
  if (platform === "win32") {
    return path.join(env.LOCALAPPDATA ?? path.join(home, "AppData", "Local"), "stock-ledger", "postgres");
  }
  if (env.XDG_DATA_HOME) return path.join(env.XDG_DATA_HOME, "stock-ledger", "postgres");
  // Root's home is private, and the `postgres` user the server runs as under root could not reach it.
  if (isRoot()) return "/var/lib/stock-ledger/postgres";
  return path.join(home, ".local", "share", "stock-ledger", "postgres");
}

/** Creates `dir` if needed; a file, an unwritable path or (ephemeral) a non-empty one is a bad dir. */
export async function prepareDir(dir: string, mustBeEmpty: boolean): Promise<void> {
  const bad = (why: string) => new EmbeddedPostgresError("bad-dir", why);
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTDIR") throw bad(`not a directory: ${dir}`);
    throw bad(`cannot create ${dir}: ${code ?? String(error)}`);
  }
  const info = await stat(dir);
  if (!info.isDirectory()) throw bad(`not a directory: ${dir}`);
  await access(dir, constants.W_OK | constants.X_OK).catch(() => {
    throw bad(`cannot write to ${dir}`);
  });
  if (mustBeEmpty && (await readdir(dir)).length > 0) {
    throw bad(`${dir} is not empty: an ephemeral server deletes its directory when it stops`);
  }
  // Under root the server runs as `postgres`, which must pass through dir (mkdtemp makes it 0700).
  if (isRoot() && info.uid === 0 && (info.mode & 0o011) !== 0o011)
    await chmod(dir, (info.mode & 0o7777) | 0o011);
}

/** Under root: the `postgres` user must reach DIR, e.g. not under root's private home. */
export function assertServerCanReach(dir: string): void {
  const user = serverUser();
  if (!user || spawnSync("test", ["-x", dir], { uid: user.uid, gid: user.gid }).status === 0) return;
  throw new EmbeddedPostgresError(
    "bad-dir",
    `PostgreSQL runs as user postgres (root cannot run it), which cannot reach ${dir}: choose a --dir it can, e.g. /var/lib/stock-ledger/postgres`,
  );
}

/** The superuser's password, made with the cluster and kept beside it (mode 0600). */
export async function clusterPassword(files: ServerFiles): Promise<string> {
  const stored = await readFile(files.password, "utf8").catch(() => undefined);
  if (stored) return stored.trim();
  if (existsSync(path.join(files.data, "PG_VERSION"))) {
    throw new EmbeddedPostgresError(
      "start-failed",
      `${files.password} is missing: the cluster beside it needs it`,
    );
  }
  const password = randomBytes(18).toString("hex");
  await writeFile(files.password, `${password}\n`, { mode: 0o600 });
  return password;
}

export async function readState(file: string): Promise<ServerState | undefined> {
  try {
    const state = JSON.parse(await readFile(file, "utf8")) as Partial<ServerState>;
    const valid =
      Number.isInteger(state.pid) && Number.isInteger(state.port) && typeof state.url === "string";
    return valid ? (state as ServerState) : undefined;
  } catch {
    return undefined;
  }
}

export async function writeState(file: string, state: ServerState): Promise<void> {
  // The URL holds the password.
  await writeFile(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}
