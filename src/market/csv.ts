import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { CsvError, parse } from "csv-parse/sync";
import type { PriceBar, PriceProvider, PriceSeries } from "./types.js";

/** DESIGN §5: tickers are upper-cased and match this before they reach Redis or SQL. */
export const TICKER_PATTERN = /^[A-Z0-9][A-Z0-9.&-]{0,19}$/;

const PRICE_COLUMNS = ["open", "high", "low", "close"] as const;
const REQUIRED_COLUMNS = ["date", ...PRICE_COLUMNS, "volume"] as const;
const TICKER_COLUMNS = ["ticker", "symbol"];

type RequiredColumn = (typeof REQUIRED_COLUMNS)[number];
type ColumnIndex = Record<RequiredColumn, number> & { ticker: number | null };

/** A price file that cannot be imported; the message names the line so a user can fix it. */
export class PriceFileError extends Error {
  readonly type = "bad_price_file";
  readonly detail: string;
  readonly line: number | null;
  readonly file: string | null;

  constructor(detail: string, where: { line?: number | null; file?: string | null } = {}) {
    const line = where.line ?? null;
    const file = where.file ?? null;
    super(`${file === null ? "" : `${file}: `}${line === null ? "" : `line ${line}: `}${detail}`);
    this.name = "PriceFileError";
    this.detail = detail;
    this.line = line;
    this.file = file;
  }
}

interface CsvRow {
  cells: string[];
  line: number;
}

/** How parsePriceCsv assigns rows to tickers. */
export interface ParsePriceCsvOptions {
  /** The ticker of rows without a ticker column, or with an empty cell in it. */
  ticker?: string;
  /**
   * `ticker` is the only ticker the file may hold (`import-prices --ticker`): a ticker column
   * naming another one is refused. Without it, a file's ticker column wins over `ticker`
   * (CsvPriceProvider passes a file name, which a multi-ticker file does not match).
   */
  strictTicker?: boolean;
}

/**
 * Parses OHLCV CSV text into bars per ticker, all or nothing: the first bad row throws a
 * PriceFileError naming its line. Rows may come in any order (many sources export newest
 * first); each ticker's bars are returned ascending by date, and a date that appears twice
 * for one ticker is refused naming both lines.
 */
export function parsePriceCsv(text: string, opts: ParsePriceCsvOptions = {}): Map<string, PriceBar[]> {
  const [header, ...rows] = readRows(text);
  if (!header) throw new PriceFileError("the file is empty");
  const columns = locateColumns(header);
  const givenTicker = opts.ticker === undefined ? null : normaliseTicker(opts.ticker, null);
  if (columns.ticker === null && givenTicker === null) {
    throw new PriceFileError("no ticker column and no ticker given", { line: header.line });
  }
  const strict = opts.strictTicker === true && givenTicker !== null;

  const seriesByTicker = new Map<string, PriceBar[]>();
  // Per ticker, the line each date was first seen on, to name both lines of a repeat.
  const linesByTicker = new Map<string, Map<string, number>>();
  for (const row of rows) {
    checkRowWidth(row, header.cells.length);
    const ticker = rowTicker(row, columns.ticker, givenTicker, strict);
    const bar = parseBar(row, columns);
    const lines = linesByTicker.get(ticker) ?? new Map<string, number>();
    const seenOn = lines.get(bar.date);
    if (seenOn !== undefined) {
      const whose = columns.ticker === null ? "" : ` for ${ticker}`;
      throw new PriceFileError(`date ${bar.date}${whose} appears on lines ${seenOn} and ${row.line}`);
    }
    lines.set(bar.date, row.line);
    linesByTicker.set(ticker, lines);
    const bars = seriesByTicker.get(ticker) ?? [];
    bars.push(bar);
    seriesByTicker.set(ticker, bars);
  }
  if (seriesByTicker.size === 0)
    throw new PriceFileError("no price rows after the header", { line: header.line });
  for (const bars of seriesByTicker.values()) sortByDate(bars);
  return seriesByTicker;
}

/** Ascending by date, in place; dates are unique YYYY-MM-DD, so string order is date order. */
function sortByDate(bars: PriceBar[]): void {
  const ascending = bars.every((bar, i) => i === 0 || (bars[i - 1] as PriceBar).date < bar.date);
  if (!ascending) bars.sort((a, b) => (a.date < b.date ? -1 : 1));
}

function readRows(text: string): CsvRow[] {
  try {
    const records = parse(text, {
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
    return records.map(({ record, info }) => ({ cells: record, line: info.lines }));
  } catch (error) {
    if (error instanceof CsvError) {
      const line = typeof error.lines === "number" ? error.lines : null;
      throw new PriceFileError(`malformed CSV: ${error.message}`, { line });
    }
    throw error;
  }
}

function locateColumns(header: CsvRow): ColumnIndex {
  const names = header.cells.map((cell) => cell.toLowerCase());
  const indexOf = (name: string) => names.indexOf(name);
  const missing = REQUIRED_COLUMNS.filter((name) => indexOf(name) === -1);
  if (missing.length > 0) {
    throw new PriceFileError(`missing column${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`, {
      line: header.line,
    });
  }
  const tickerIndex = names.findIndex((name) => TICKER_COLUMNS.includes(name));
  return {
    date: indexOf("date"),
    open: indexOf("open"),
    high: indexOf("high"),
    low: indexOf("low"),
    close: indexOf("close"),
    volume: indexOf("volume"),
    ticker: tickerIndex === -1 ? null : tickerIndex,
  };
}

function checkRowWidth(row: CsvRow, headerWidth: number): void {
  if (row.cells.length > headerWidth) {
    throw new PriceFileError(`${row.cells.length} values but the header has ${headerWidth} columns`, {
      line: row.line,
    });
  }
}

function rowTicker(row: CsvRow, tickerIndex: number | null, given: string | null, strict: boolean): string {
  const cell = tickerIndex === null ? "" : (row.cells[tickerIndex] ?? "");
  if (cell !== "") {
    const ticker = normaliseTicker(cell, row.line);
    if (strict && given !== null && ticker !== given) {
      throw new PriceFileError(`the ticker column says ${ticker} but the ticker given is ${given}`, {
        line: row.line,
      });
    }
    return ticker;
  }
  if (given !== null) return given;
  throw new PriceFileError("ticker is empty", { line: row.line });
}

function normaliseTicker(raw: string, line: number | null): string {
  const ticker = raw.trim().toUpperCase();
  if (!TICKER_PATTERN.test(ticker))
    throw new PriceFileError(`ticker ${JSON.stringify(raw)} is not valid`, { line });
  return ticker;
}

function parseBar(row: CsvRow, columns: ColumnIndex): PriceBar {
  const cell = (name: RequiredColumn) => row.cells[columns[name]];
  const absent = REQUIRED_COLUMNS.filter((name) => cell(name) === undefined);
  if (absent.length > 0)
    throw new PriceFileError(`missing value for ${absent.join(", ")}`, { line: row.line });

  const where = { line: row.line };
  const date = parseDate(cell("date") ?? "", row.line);
  const [open, high, low, close] = PRICE_COLUMNS.map((name) => {
    const price = parseNumber(name, cell(name) ?? "", row.line);
    if (price <= 0) throw new PriceFileError(`${name} must be positive (got ${price})`, where);
    return price;
  }) as [number, number, number, number];
  const volume = parseNumber("volume", cell("volume") ?? "", row.line);
  if (volume < 0) throw new PriceFileError(`volume must not be negative (got ${volume})`, where);

  if (high < low) throw new PriceFileError(`high (${high}) is below low (${low})`, where);
  // An open or close outside the day's range is corrupt data: it would push ATR and %K past their bounds.
  for (const [name, price] of [
    ["open", open],
    ["close", close],
  ] as const) {
    if (price > high || price < low) {
      throw new PriceFileError(
        `${name} (${price}) is outside the day's range low ${low} to high ${high}`,
        where,
      );
    }
  }
  return { date, open, high, low, close, volume };
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseNumber(name: string, raw: string, line: number): number {
  if (raw === "") throw new PriceFileError(`${name} is empty`, { line });
  const value = Number(raw);
  if (!DECIMAL.test(raw) || !Number.isFinite(value)) {
    throw new PriceFileError(`${name} is not a number (${JSON.stringify(raw)})`, { line });
  }
  return value;
}

// A calendar date, optionally followed by a time of day that we drop (daily bars only).
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/;

function parseDate(raw: string, line: number): string {
  const match = ISO_DATE.exec(raw);
  if (match) {
    const [, year, month, day] = match.map(Number) as [number, number, number, number];
    const roundTrip = new Date(Date.UTC(year, month - 1, day));
    if (roundTrip.getUTCMonth() === month - 1 && roundTrip.getUTCDate() === day) return raw.slice(0, 10);
  }
  throw new PriceFileError(`date ${JSON.stringify(raw)} is not a valid YYYY-MM-DD date`, { line });
}

/**
 * Reads TICKER.csv files from a directory, or one CSV file (which may hold several tickers
 * in a ticker column). Files are re-read on every load so freshly imported prices show up.
 */
export class CsvPriceProvider implements PriceProvider {
  readonly location: string;
  readonly currency: string;

  /** `currency` defaults to INR: the project's home market is NSE and a CSV does not say. */
  constructor(location: string, opts: { currency?: string } = {}) {
    this.location = location;
    this.currency = opts.currency ?? "INR";
  }

  async load(ticker: string): Promise<PriceSeries | null> {
    const wanted = ticker.trim().toUpperCase();
    const file = await this.fileFor(wanted);
    if (file === null) return null;

    const baseName = path.basename(file, path.extname(file)).toUpperCase();
    const fileTicker = TICKER_PATTERN.test(baseName) ? baseName : undefined;
    let seriesByTicker: Map<string, PriceBar[]>;
    try {
      seriesByTicker = parsePriceCsv(await readFile(file, "utf8"), { ticker: fileTicker });
    } catch (error) {
      if (error instanceof PriceFileError) {
        throw new PriceFileError(error.detail, { line: error.line, file });
      }
      throw error;
    }
    const bars = seriesByTicker.get(wanted);
    if (bars === undefined) return null;
    return {
      ticker: wanted,
      currency: this.currency,
      source: { kind: "csv", label: `imported CSV prices (${path.basename(file)})` },
      bars,
    };
  }

  private async fileFor(ticker: string): Promise<string | null> {
    const info = await stat(this.location).catch(() => null);
    if (info === null) return null;
    if (info.isFile()) return this.location;
    const entries = await readdir(this.location, { withFileTypes: true });
    // Case-insensitive so tcs.csv and TCS.csv both serve TCS.
    const match = entries.find((entry) => entry.isFile() && entry.name.toUpperCase() === `${ticker}.CSV`);
    return match === undefined ? null : path.join(this.location, match.name);
  }
}
