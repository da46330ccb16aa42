import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { encodeExportRows as encode } from "../../store/export-encoding.js";
import {
  EXPORT_TABLES,
  type ExportFilter,
  type ExportWhat,
  exportBatches,
  exportColumns,
} from "../../store/export-repo.js";
import type { CliContext } from "../cli-context.js";
import { UsageError } from "../cli-errors.js";
import { parseSince, parseStatus, parseTicker } from "../input.js";

export interface ExportOptions {
  format?: string;
  what?: string;
  since?: string;
  until?: string;
  ticker?: string;
  status?: string;
  out?: string;
}

const FORMATS = ["csv", "json"] as const;
type Format = (typeof FORMATS)[number];
/** JSON is written one object per line, so the usual names of such files mean it too. */
const FORMAT_BY_EXTENSION: Record<string, Format> = {
  ".csv": "csv",
  ".json": "json",
  ".ndjson": "json",
  ".jsonl": "json",
};
const CALL_STATUSES = ["success", "failure", "interrupted"];

function oneOf<T extends string>(values: readonly T[], raw: string, option: string): T {
  if ((values as readonly string[]).includes(raw)) return raw as T;
  throw new UsageError(`invalid ${option} ${JSON.stringify(raw)}: must be one of ${values.join(", ")}`);
}

/**
 * --format as given; without it, what --out's name says (report.ndjson → json), else csv:
 * what a spreadsheet opens, its header row naming the columns.
 */
function exportFormat(options: ExportOptions): Format {
  if (options.format !== undefined) return oneOf(FORMATS, options.format, "--format");
  const extension = options.out === undefined ? "" : path.extname(options.out).toLowerCase();
  return FORMAT_BY_EXTENSION[extension] ?? "csv";
}

/** --until is exclusive; a bare date means "through the end of that UTC day". */
function parseUntil(raw: string): Date {
  const date = parseSince(raw);
  return /^\d{4}-\d{2}-\d{2}$/.test(raw) ? new Date(date.getTime() + 86_400_000) : date;
}

function parseFilter(what: ExportWhat, options: ExportOptions): ExportFilter {
  const filter: ExportFilter = {
    since: options.since === undefined ? undefined : parseSince(options.since),
    until: options.until === undefined ? undefined : parseUntil(options.until),
    ticker: options.ticker === undefined ? undefined : parseTicker(options.ticker),
    status:
      options.status === undefined
        ? undefined
        : what === "analyses"
          ? parseStatus(options.status)
          : oneOf(CALL_STATUSES, options.status, "call status"),
  };
  if (filter.since && filter.until && filter.since >= filter.until) {
    throw new UsageError("invalid range: --since must be before --until");
  }
  return filter;
}

/** The target's directory must exist before anything is read, so bad paths fail as usage errors. */
async function checkOut(out: string): Promise<string> {
  const target = path.resolve(out);
  const dir = await stat(path.dirname(target)).catch(() => null);
  if (!dir?.isDirectory()) throw new UsageError(`cannot write ${out}: its directory does not exist`);
  if ((await stat(target).catch(() => null))?.isDirectory()) {
    throw new UsageError(`cannot write ${out}: it is a directory`);
  }
  return target;
}

/** Writes with backpressure: the next batch is read from Postgres only once this one is out. */
async function writeAll(chunks: AsyncIterable<string>, stream: Writable): Promise<void> {
  let failure: unknown = null;
  const onError = (error: unknown) => {
    failure ??= error;
  };
  stream.on("error", onError);
  try {
    for await (const chunk of chunks) {
      if (failure) throw failure;
      if (!stream.write(chunk)) await once(stream, "drain");
    }
    // Resolves once everything queued before it has been handed to the OS.
    await new Promise<void>((resolve, reject) =>
      stream.write("", (error) => (error ? reject(error) : resolve())),
    );
    if (failure) throw failure;
  } finally {
    stream.off("error", onError);
  }
}

/** Writes to a temporary file beside the target and renames it on success: never a half file. */
async function writeFileAtomically(target: string, chunks: AsyncIterable<string>): Promise<void> {
  const temp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(4).toString("hex")}.tmp`,
  );
  const stream = createWriteStream(temp, { flags: "wx" });
  try {
    await once(stream, "open");
    await writeAll(chunks, stream);
    stream.end();
    await once(stream, "close");
    // fsync before rename, so a crash cannot leave the target name on an unwritten file.
    const handle = await open(temp, "r");
    await handle.sync().finally(() => handle.close());
    await rename(temp, target);
  } catch (error) {
    stream.destroy();
    await rm(temp, { force: true });
    throw error;
  }
}

export async function exportCommand(ctx: CliContext, options: ExportOptions): Promise<void> {
  const format = exportFormat(options);
  const what = oneOf(EXPORT_TABLES, options.what ?? "analyses", "--what");
  const filter = parseFilter(what, options);
  const target = options.out === undefined ? null : await checkOut(options.out);
  const columns = await exportColumns(ctx.sql, what);
  const chunks = encode(format, columns, exportBatches(ctx.sql, what, columns, filter));
  if (target) {
    await writeFileAtomically(target, chunks);
    return;
  }
  try {
    await writeAll(chunks, process.stdout);
  } catch (error) {
    // The reader went away (`export ... | head`): stop quietly, as other Unix tools do.
    if ((error as { code?: string }).code !== "EPIPE") throw error;
  }
}
