import { stringify } from "csv-stringify/sync";
import type { ExportColumn } from "./export-repo.js";

/** The encodings `export` writes: CSV with a header row, or NDJSON. */
export type ExportEncoding = "csv" | "json";

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

/**
 * Rows per string written. A chunk for all 1,000 rows of a batch (~370 KB of CSV) would land
 * in V8's large-object space, which only a full GC frees, so an export of millions of rows
 * would ratchet the heap up to V8's limit; chunks of 100 rows die young.
 */
const PIECE_ROWS = 100;

/** Encodes batches of rows as CSV (with a header row) or NDJSON, in chunks of PIECE_ROWS. */
export async function* encodeExportRows(
  format: ExportEncoding,
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
      // NULL is an empty cell; everything else arrives as text or a number.
      if (format === "csv") yield stringify(piece, csvOptions);
      else yield `${piece.map((row) => jsonLine(columns, keys, row)).join("\n")}\n`;
    }
  }
}
