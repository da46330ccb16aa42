import type { PriceBar } from "../market/types.js";
import type { Sql, TransactionSql } from "./database.js";
import { notifyPriceBarsChanged } from "./price-bars-changes.js";

type Db = Sql | TransactionSql;

/** Who wrote a bar: `import-prices` or the live provider's cache. They never overwrite each other. */
export type PriceBarSource = "import" | "live";

/** What one upsert did for one ticker. */
export interface PriceBarsWrite {
  ticker: string;
  rows: number;
  inserted: number;
  updated: number;
  firstDate: string;
  lastDate: string;
  /** The currency now stored (a re-import without one keeps the earlier one); null when never given. */
  currency: string | null;
  /** True when `currency` is importPriceBars' default: neither this import nor an earlier one named one. */
  currencyDefaulted?: boolean;
}

/** The stored bars of one ticker and source, ascending by date. */
export interface StoredPriceBars {
  ticker: string;
  source: PriceBarSource;
  /** ISO currency code, or null when the writer did not know it. */
  currency: string | null;
  bars: PriceBar[];
  /** The newest fetched_at of these rows: when the series was last refreshed. */
  fetchedAt: Date;
}

/**
 * Writes bars for one ticker in a single statement, idempotent on (ticker, source, date):
 * a re-import updates rows in place. Columns travel as arrays through unnest, so a ten-year
 * file is one round trip with six array parameters instead of 2,500 × 10 placeholders.
 * The bars must not repeat a date (parsePriceCsv and the live mapping guarantee it);
 * Postgres refuses to update one row twice in a statement. Imports go through
 * importPriceBars, which also tells workers' market-input caches.
 */
export async function upsertPriceBars(
  db: Db,
  input: {
    ticker: string;
    source: PriceBarSource;
    currency: string | null;
    bars: readonly PriceBar[];
    fetchedAt?: Date;
  },
): Promise<PriceBarsWrite> {
  const { ticker, source, currency, bars } = input;
  const first = bars[0];
  const last = bars.at(-1);
  if (first === undefined || last === undefined) {
    return { ticker, rows: 0, inserted: 0, updated: 0, firstDate: "", lastDate: "", currency };
  }
  const fetchedAt = input.fetchedAt ?? new Date();
  const column = <K extends keyof PriceBar>(key: K) => bars.map((bar) => bar[key]);
  // xmax is 0 only on a freshly inserted row version: it tells inserts from updates.
  const rows = await db<{ inserted: boolean; currency: string | null }[]>`
    INSERT INTO price_bars (ticker, source, date, open, high, low, close, volume, currency, fetched_at)
    SELECT ${ticker}, ${source}, b.date, b.open, b.high, b.low, b.close, b.volume, ${currency}, ${fetchedAt}
    FROM unnest(
      ${column("date")}::date[],
      ${column("open")}::float8[],
      ${column("high")}::float8[],
      ${column("low")}::float8[],
      ${column("close")}::float8[],
      ${column("volume")}::float8[]
    ) AS b(date, open, high, low, close, volume)
    ON CONFLICT (ticker, source, date) DO UPDATE SET
      open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
      volume = EXCLUDED.volume, fetched_at = EXCLUDED.fetched_at,
      -- A re-import without --currency keeps the currency an earlier import named.
      currency = COALESCE(EXCLUDED.currency, price_bars.currency)
    RETURNING (xmax = 0) AS inserted, currency`;
  const inserted = rows.filter((row) => row.inserted).length;
  return {
    ticker,
    rows: rows.length,
    inserted,
    updated: rows.length - inserted,
    firstDate: first.date,
    lastDate: last.date,
    currency: rows[0]?.currency ?? null,
  };
}

/**
 * Imports parsed files all or nothing: every ticker in one transaction, so a failure
 * anywhere (a constraint, a lost connection) leaves price_bars as it was. The commit tells
 * listening workers which tickers changed, so none goes on analysing its cached inputs.
 *
 * Without `currency`, a ticker keeps the currency an earlier import stored for it, else gets
 * `defaultCurrency` (when given): every row of the ticker is written with the one currency
 * the write reports, so what `import-prices` prints is what is stored.
 */
export async function importPriceBars(
  sql: Sql,
  barsByTicker: ReadonlyMap<string, readonly PriceBar[]>,
  opts: { currency: string | null; defaultCurrency?: string },
): Promise<PriceBarsWrite[]> {
  return sql.begin(async (tx) => {
    const earlier = opts.currency === null ? await importedCurrencies(tx, [...barsByTicker.keys()]) : null;
    const writes: PriceBarsWrite[] = [];
    const fetchedAt = new Date();
    for (const [ticker, bars] of barsByTicker) {
      const kept = earlier?.get(ticker) ?? null;
      const currency = opts.currency ?? kept ?? opts.defaultCurrency ?? null;
      const write = await upsertPriceBars(tx, { ticker, source: "import", currency, bars, fetchedAt });
      const currencyDefaulted = opts.currency === null && kept === null && opts.defaultCurrency !== undefined;
      writes.push({ ...write, currencyDefaulted });
    }
    await notifyPriceBarsChanged(
      tx,
      writes.filter((write) => write.rows > 0).map((write) => write.ticker),
    );
    return writes;
  });
}

/** The currency stored with each ticker's newest imported bar that has one (as loadPriceBars reads it). */
async function importedCurrencies(db: Db, tickers: string[]): Promise<Map<string, string>> {
  if (tickers.length === 0) return new Map();
  const rows = await db<{ ticker: string; currency: string }[]>`
    SELECT DISTINCT ON (ticker) ticker, currency FROM price_bars
    WHERE source = 'import' AND ticker = ANY(${tickers}::text[]) AND currency IS NOT NULL
    ORDER BY ticker, date DESC`;
  return new Map(rows.map((row) => [row.ticker, row.currency]));
}

/** All stored bars of a ticker from one source, or null when there are none. */
export async function loadPriceBars(
  db: Db,
  ticker: string,
  source: PriceBarSource,
): Promise<StoredPriceBars | null> {
  const rows = await db<(PriceBar & { currency: string | null; fetched_at: Date })[]>`
    SELECT date::text AS date, open, high, low, close, volume, currency, fetched_at
    FROM price_bars WHERE ticker = ${ticker} AND source = ${source}
    ORDER BY date`;
  if (rows.length === 0) return null;
  let fetchedAt = rows[0]?.fetched_at as Date;
  let currency: string | null = null;
  const bars = rows.map((row) => {
    if (row.fetched_at > fetchedAt) fetchedAt = row.fetched_at;
    currency = row.currency ?? currency;
    return {
      date: row.date,
      open: row.open,
      high: row.high,
      low: row.low,
      close: row.close,
      volume: row.volume,
    };
  });
  return { ticker, source, currency, bars, fetchedAt };
}

/** Bar counts per ticker and source, for reports and tests. */
export async function countPriceBars(
  db: Db,
  where: { ticker?: string; source?: PriceBarSource } = {},
): Promise<number> {
  const [row] = await db<{ count: number }[]>`
    SELECT count(*)::int AS count FROM price_bars
    WHERE (${where.ticker ?? null}::text IS NULL OR ticker = ${where.ticker ?? null})
      AND (${where.source ?? null}::text IS NULL OR source = ${where.source ?? null})`;
  return row?.count ?? 0;
}

/**
 * Makes the stored bars of a ticker and source exactly `bars`, in one transaction. The live
 * cache uses it: a refetch is split-adjusted as a whole, so older rows from an earlier
 * fetch must not linger beside it.
 */
export async function replacePriceBars(
  sql: Sql,
  input: {
    ticker: string;
    source: PriceBarSource;
    currency: string | null;
    bars: readonly PriceBar[];
    fetchedAt?: Date;
  },
): Promise<PriceBarsWrite> {
  return sql.begin(async (tx) => {
    await tx`DELETE FROM price_bars WHERE ticker = ${input.ticker} AND source = ${input.source}`;
    return upsertPriceBars(tx, input);
  });
}
