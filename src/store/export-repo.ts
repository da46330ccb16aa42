import type { Sql } from "./database.js";

/**
 * Streams `stock_analyses` or `llm_calls` rows for `export`, in batches from a server-side
 * cursor: the next batch is fetched only after the caller has consumed the previous one, so
 * memory stays flat whatever the table size. Values arrive ready to print (timestamps as ISO
 * text, JSONB as JSON text, NUMERIC as exact decimal text), so no row is parsed only to be
 * serialised again.
 */

export const EXPORT_TABLES = ["analyses", "calls"] as const;
export type ExportWhat = (typeof EXPORT_TABLES)[number];

/** How a column's value is written: `json` and `number` values are JSON literals already. */
export type ExportKind = "json" | "number" | "text";

export interface ExportColumn {
  name: string;
  kind: ExportKind;
  /** The Postgres data type, as information_schema names it. */
  type: string;
}

export interface ExportFilter {
  /** Analyses by created_at, calls by started_at: [since, until). */
  since?: Date | undefined;
  until?: Date | undefined;
  ticker?: string | undefined;
  /** An analysis status, or a call status (success|failure|interrupted). */
  status?: string | undefined;
}

const TABLES = { analyses: "stock_analyses", calls: "llm_calls" } as const;

// A call's `output` is the stage's answer text, not ledger data: it would dwarf the export.
const LEFT_OUT: Record<ExportWhat, ReadonlySet<string>> = {
  analyses: new Set(),
  calls: new Set(["output"]),
};

const NUMBER_TYPES = new Set(["smallint", "integer", "bigint", "numeric", "real", "double precision"]);

/** The exported columns in table order: also the CSV header and the NDJSON keys. */
export async function exportColumns(sql: Sql, what: ExportWhat): Promise<ExportColumn[]> {
  const rows = await sql<{ column_name: string; data_type: string }[]>`
    SELECT column_name, data_type FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = ${TABLES[what]}
    ORDER BY ordinal_position`;
  return rows
    .filter((r) => !LEFT_OUT[what].has(r.column_name))
    .map((r) => ({
      name: r.column_name,
      kind: r.data_type.startsWith("json") ? "json" : NUMBER_TYPES.has(r.data_type) ? "number" : "text",
      type: r.data_type,
    }));
}

/** A column as printed: timestamps in the ISO form of `Date.toISOString`, the rest as text. */
function selectItem(sql: Sql, column: ExportColumn) {
  if (column.type.startsWith("timestamp")) {
    return sql`to_char(${sql(column.name)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  }
  if (column.kind === "json" || column.type === "numeric") return sql`${sql(column.name)}::text`;
  return sql`${sql(column.name)}`;
}

const selectList = (sql: Sql, columns: ExportColumn[]) =>
  columns.map((c) => selectItem(sql, c)).reduce((list, item) => sql`${list}, ${item}`);

/** Rows oldest first, as arrays in `columns` order, `batchSize` at a time. */
export function exportBatches(
  sql: Sql,
  what: ExportWhat,
  columns: ExportColumn[],
  filter: ExportFilter,
  batchSize = 1000,
): AsyncIterable<(string | number | null)[][]> {
  const { since, until, ticker, status } = filter;
  const list = selectList(sql, columns);
  if (what === "analyses") {
    return sql`
      SELECT ${list} FROM stock_analyses
      WHERE TRUE
        ${since ? sql`AND created_at >= ${since}` : sql``}
        ${until ? sql`AND created_at < ${until}` : sql``}
        ${ticker ? sql`AND ticker = ${ticker}` : sql``}
        ${status ? sql`AND status = ${status}` : sql``}
      ORDER BY created_at, id`
      .values()
      .cursor(batchSize) as AsyncIterable<(string | number | null)[][]>;
  }
  return sql`
    SELECT ${list} FROM llm_calls
    WHERE TRUE
      ${since ? sql`AND started_at >= ${since}` : sql``}
      ${until ? sql`AND started_at < ${until}` : sql``}
      ${ticker ? sql`AND analysis_id IN (SELECT id FROM stock_analyses WHERE ticker = ${ticker})` : sql``}
      ${status ? sql`AND status = ${status}` : sql``}
    ORDER BY started_at, analysis_id, call_type, attempt`
    .values()
    .cursor(batchSize) as AsyncIterable<(string | number | null)[][]>;
}
