import { Readable } from "node:stream";
import { parseSince } from "../cli/input.js";
import type { Sql } from "../store/database.js";
import { encodeExportRows as encode } from "../store/export-encoding.js";
import { type ExportFilter, type ExportWhat, exportBatches, exportColumns } from "../store/export-repo.js";

/**
 * `GET /export`: the rows `stock-ledger export` writes, in the same encoding (CSV with a
 * header row, or NDJSON), streamed batch by batch so memory stays flat. Both encode with
 * src/store/export-encoding.ts.
 */

export const EXPORT_FORMATS = ["csv", "json"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const CALL_STATUSES = ["success", "failure", "interrupted"] as const;

/** `until` is exclusive; a bare date means "through the end of that UTC day" (as the CLI). */
export function parseExportUntil(raw: string): Date {
  const date = parseSince(raw);
  return /^\d{4}-\d{2}-\d{2}$/.test(raw) ? new Date(date.getTime() + 86_400_000) : date;
}

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/x-ndjson; charset=utf-8",
};

/**
 * The export as a byte stream. The columns are read first, so a database that is away fails
 * the request before any header is sent; the rows are read only as the client takes them.
 */
export async function exportStream(
  sql: Sql,
  format: ExportFormat,
  what: ExportWhat,
  filter: ExportFilter,
): Promise<Readable> {
  const columns = await exportColumns(sql, what);
  return Readable.from(encode(format, columns, exportBatches(sql, what, columns, filter)), {
    objectMode: false,
  });
}
