import type { Sql } from "./database.js";

/**
 * Streams `stock_analyses` or `llm_calls` rows for `export`, in batches from a server-side
 * cursor: the next batch is fetched only after the caller has consumed the previous one, so
 * memory stays flat whatever the table size.
 */

export const EXPORT_TABLES = ["analyses", "calls"] as const;
export type ExportWhat = (typeof EXPORT_TABLES)[number];

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

/** The exported columns, in table order: also the CSV header and the NDJSON keys. */
export async function exportColumns(sql: Sql, what: ExportWhat): Promise<string[]> {
  const rows = await sql<{ column_name: string }[]>`
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = ${TABLES[what]}
    ORDER BY ordinal_position`;
  return rows.map((r) => r.column_name).filter((name) => !LEFT_OUT[what].has(name));
}

/** Rows oldest first, `batchSize` at a time. */
export function exportBatches(
  sql: Sql,
  what: ExportWhat,
  columns: string[],
  filter: ExportFilter,
  batchSize = 1000,
): AsyncIterable<Record<string, unknown>[]> {
  const { since, until, ticker, status } = filter;
  if (what === "analyses") {
    return sql`
      SELECT ${sql(columns)} FROM stock_analyses
      WHERE TRUE
        ${since ? sql`AND created_at >= ${since}` : sql``}
        ${until ? sql`AND created_at < ${until}` : sql``}
        ${ticker ? sql`AND ticker = ${ticker}` : sql``}
        ${status ? sql`AND status = ${status}` : sql``}
      ORDER BY created_at, id`.cursor(batchSize);
  }
  return sql`
    SELECT ${sql(columns)} FROM llm_calls
    WHERE TRUE
      ${since ? sql`AND started_at >= ${since}` : sql``}
      ${until ? sql`AND started_at < ${until}` : sql``}
      ${ticker ? sql`AND analysis_id IN (SELECT id FROM stock_analyses WHERE ticker = ${ticker})` : sql``}
      ${status ? sql`AND status = ${status}` : sql``}
    ORDER BY started_at, analysis_id, call_type, attempt`.cursor(batchSize);
}
