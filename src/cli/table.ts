import { formatUsd, usdToPico } from "../ledger/money.js";

/**
 * The CLI's human tables (stats, list, show): at most TABLE_WIDTH columns unless `--wide`,
 * text left-aligned, figures right-aligned. `--json` output never goes through here.
 */

export const TABLE_WIDTH = 100;
const GAP = "  ";
const ELLIPSIS = "…";

export interface Column<Row> {
  title: string;
  cell: (row: Row) => string;
  /** Figures are right-aligned; text (the default) left-aligned. */
  align?: "left" | "right";
  /** Detail shown only with `--wide`. */
  wide?: boolean;
  /**
   * May be shortened with "…" when the table is wider than TABLE_WIDTH: at the end, or in the
   * middle (for ids, whose head and tail both tell rows apart). Never in a `--wide` table.
   */
  shorten?: "end" | "middle";
}

export interface TableOptions<Row> {
  wide?: boolean | undefined;
  /** Rows after a second rule, such as totals. */
  footer?: Row[];
  /** Spaces before every line (counted in the width). */
  indent?: number;
}

/** 12,345 (en-US separators), as the summaries print counts. */
export const count = (n: number) => Math.round(n).toLocaleString("en-US");

/** $0.004801, as the summaries print money: six decimals, exact; "-" when unknown. */
export const usd = (amount: number | string | null) =>
  amount === null ? "-" : formatUsd(usdToPico(typeof amount === "number" ? amount.toFixed(12) : amount));

/** 93.8%; "-" when there is nothing to divide. */
export const percent = (fraction: number | null) =>
  fraction === null ? "-" : `${(fraction * 100).toFixed(1)}%`;

function shortened(text: string, width: number, how: "end" | "middle"): string {
  if (text.length <= width) return text;
  if (how === "end") return `${text.slice(0, width - 1)}${ELLIPSIS}`;
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}${ELLIPSIS}${text.slice(text.length - (width - 1 - head))}`;
}

/**
 * Header, rule, rows and (with a footer) a rule and the footer rows. Without `wide`, the
 * `wide` columns are left out and `shorten` columns give up width (never below their title)
 * until the table fits TABLE_WIDTH; a last line then says so.
 */
export function renderTable<Row>(
  allColumns: Column<Row>[],
  rows: Row[],
  options: TableOptions<Row> = {},
): string {
  const columns = allColumns.filter((c) => options.wide || !c.wide);
  const footer = options.footer ?? [];
  const cells = [...rows, ...footer].map((row) => columns.map((c) => c.cell(row)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const indent = " ".repeat(options.indent ?? 0);
  const total = () =>
    indent.length + widths.reduce((sum, w) => sum + w, 0) + GAP.length * (widths.length - 1);

  let shortenedAny = false;
  if (!options.wide) {
    columns.forEach((column, i) => {
      const excess = total() - TABLE_WIDTH;
      const width = widths[i] ?? 0;
      if (!column.shorten || excess <= 0) return;
      const least = Math.max(column.title.length, 8);
      const next = Math.max(least, width - excess);
      if (next >= width) return;
      widths[i] = next;
      shortenedAny ||= cells.some((r) => (r[i]?.length ?? 0) > next);
    });
  }

  const line = (row: string[]) =>
    indent +
    row
      .map((text, i) => {
        const column = columns[i];
        const width = widths[i] ?? 0;
        const fitted = column?.shorten ? shortened(text, width, column.shorten) : text;
        return column?.align === "right" ? fitted.padStart(width) : fitted.padEnd(width);
      })
      .join(GAP)
      .trimEnd();
  const rule = indent + "-".repeat(total() - indent.length);
  const body = cells.slice(0, rows.length).map(line);
  const tail = cells.slice(rows.length).map(line);
  return [
    line(columns.map((c) => c.title)),
    rule,
    ...body,
    ...(tail.length > 0 && body.length > 0 ? [rule] : []),
    ...tail,
    ...(shortenedAny
      ? [`${indent}(${ELLIPSIS} marks values shortened to fit; --wide shows them in full)`]
      : []),
  ].join("\n");
}
