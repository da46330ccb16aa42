import { readFile } from "node:fs/promises";
import { PriceFileError, parsePriceCsv } from "../../market/csv.js";
import { DEFAULT_IMPORT_CURRENCY } from "../../market/price-bars-provider.js";
import type { PriceBar } from "../../market/types.js";
import { importPriceBars } from "../../store/price-bars-repo.js";
import type { CliContext } from "../cli-context.js";
import { UsageError } from "../cli-errors.js";
import { parseTicker } from "../input.js";

export interface ImportPricesOptions {
  ticker?: string;
  currency?: string;
}

/**
 * `import-prices FILE.csv [--ticker T] [--currency C]`: the whole file is validated before
 * the database is touched, then written in one transaction, so a bad row (exit 2, naming
 * its line) or a failed write leaves price_bars exactly as it was. Rows may come in any
 * date order (newest-first downloads included); a repeated date is refused naming both lines.
 */
export async function importPricesCommand(
  ctx: CliContext,
  file: string,
  options: ImportPricesOptions,
): Promise<void> {
  const ticker = options.ticker === undefined ? undefined : parseTicker(options.ticker);
  const currency = options.currency === undefined ? null : parseCurrency(options.currency);
  const barsByTicker = parseFile(file, await readPriceFile(file), ticker);

  // Stored as it is printed: the --currency given, else the one an earlier import stored, else the default.
  const writes = await importPriceBars(ctx.sql, barsByTicker, {
    currency,
    defaultCurrency: DEFAULT_IMPORT_CURRENCY,
  });
  const lines = writes.map(
    (w) =>
      `imported ${w.ticker}: ${w.rows} bars, ${w.firstDate} to ${w.lastDate} (${w.inserted} new, ${w.updated} updated), ` +
      (w.currencyDefaulted ? `currency not given, taken as ${w.currency}` : w.currency),
  );
  const total = writes.reduce((sum, w) => sum + w.rows, 0);
  if (writes.length > 1) lines.push(`imported ${total} bars for ${writes.length} tickers`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function readPriceFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code;
    throw new UsageError(`cannot read ${file}: ${why ?? (error as Error).message}`);
  }
}

function parseFile(file: string, text: string, ticker: string | undefined): Map<string, PriceBar[]> {
  try {
    // --ticker names the file's ticker: a ticker column naming another one is refused, not ignored.
    return parsePriceCsv(text, { ticker, strictTicker: true });
  } catch (error) {
    if (error instanceof PriceFileError) {
      throw new UsageError(new PriceFileError(error.detail, { line: error.line, file }).message);
    }
    throw error;
  }
}

function parseCurrency(raw: string): string {
  const code = raw.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(code)) {
    throw new UsageError(
      `invalid currency ${JSON.stringify(raw)}: must be a 3-letter code such as INR or USD`,
    );
  }
  return code;
}
