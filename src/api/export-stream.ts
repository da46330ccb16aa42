import { Readable } from "node:stream";
import { stringify } from "csv-stringify/sync";
import { parseSince } from "../cli/input.js";
import type { Sql } from "../store/database.js";
import {
  type ExportColumn,
  type ExportFilter,
  type ExportWhat,
  exportBatches,
  exportColumns,
} from "../store/export-repo.js";

/**
 * `GET /export`: the rows `stock-ledger export` writes, in the same encoding (CSV with a
 * header row, or NDJSON), streamed batch by batch so memory stays flat. The encoding mirrors
 * src/cli/commands/export.ts, which does not export its encoder.
 */

export const EXPORT_FORMATS = ["csv", "json"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const CALL_STATUSES = ["success", "failure", "interrupted"] as const;

/** `until` is exclusive; a bare date means "through the end of that UTC day" (as the CLI). */
export function parseExportUntil(raw: string): Date {
  const date = parseSince(raw);
  return /^\d{4}-\d{2}-\d{2}$/.test(raw) ? new Date(date.getTime() + 86_400_000) : date;
}

type Value = string | number | null;

/** One NDJSON object; JSONB and numeric values are already JSON literals (money stays exact). */
function jsonLine(columns: ExportColumn[], keys: string[], row: Value[]): string {
  const fields = row.map((value, i) => {
    const literal =
      value === null ? "null" : columns[i]?.kind === "text" ? JSON.stringify(value) : String(value);
    return `${keys[i]}:${literal}`;
  });
  return `{${fields.join(",")}}`;
}

/** Small chunks die young in V8's heap (see the CLI's PIECE_ROWS). */
const PIECE_ROWS = 100;

async function* encode(
  format: ExportFormat,
  columns: ExportColumn[],
  batches: AsyncIterable<Value[][]>,
): AsyncGenerator<string> {
  const names = columns.map((c) => c.name);
  const keys = names.map((name) => JSON.stringify(name));
  const csvOptions = { cast: { boolean: (value: boolean) => String(value) } };
  if (format === "csv") yield stringify([names], csvOptions);
  for await (const rows of batches) {
    for (let i = 0; i < rows.length; i += PIECE_ROWS) {
      const piece = rows.slice(i, i + PIECE_ROWS);
      if (format === "csv") yield stringify(piece, csvOptions);
      else yield `${piece.map((row) => jsonLine(columns, keys, row)).join("\n")}\n`;
    }
  }
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
