import path from "node:path";
import {
  defaultEmbeddedDir,
  EmbeddedPostgresError,
  startEmbeddedPostgres,
  stopEmbeddedPostgres,
} from "../../embedded/embedded-postgres.js";
import { migrate } from "../../store/migrate.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure, UsageError } from "../cli-errors.js";

/**
 * Starts (or finds) the embedded PostgreSQL of DIR and applies the migrations. stdout is exactly the two export lines, for
 * `eval "$(stock-ledger up)"`; everything a person reads goes to stderr.
 */
export async function upCommand(ctx: CliContext, options: { dir?: string }): Promise<void> {
  const server = await asCliError(() =>
    startEmbeddedPostgres({ dir: options.dir ?? defaultEmbeddedDir(), detached: true, onProgress: say }),
  );
  // Ready for any command at once, not only for a worker (which migrates at start).
  await migrate(server.url, ctx.logger.child({}, { level: "warn" }));
  const where = `127.0.0.1:${server.port} (pid ${server.pid})`;
  say(
    server.reused
      ? `embedded PostgreSQL already running at ${where}`
      : `embedded PostgreSQL started at ${where}`,
  );
  const downArgs = options.dir === undefined ? "" : ` --dir ${shellQuote(server.dir)}`;
  say(`data in ${server.dir}; stop it with: stock-ledger down${downArgs}`);
  process.stdout.write(`export DATABASE_URL=${shellQuote(server.url)}\nexport QUEUE_BACKEND=postgres\n`);
}

/** Stops the embedded PostgreSQL of DIR and keeps its data; nothing running is not an error. */
export async function downCommand(_ctx: CliContext, options: { dir?: string }): Promise<void> {
  const dir = path.resolve(options.dir ?? defaultEmbeddedDir());
  const outcome = await asCliError(() => stopEmbeddedPostgres(dir));
  say(
    outcome.stopped
      ? `stopped embedded PostgreSQL (pid ${outcome.pid}); its data stays in ${dir}`
      : `no embedded PostgreSQL running in ${dir}`,
  );
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A bad --dir is a usage error (exit 2); any other embedded failure is one line, exit 1. */
async function asCliError<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof EmbeddedPostgresError)) throw error;
    throw error.reason === "bad-dir" ? new UsageError(error.message) : new CliFailure(error.message);
  }
}

/** Bare when every character is safe in a shell word, else single-quoted. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
