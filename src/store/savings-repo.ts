import { rateCardOfTier, TOKEN_PRICE_TIERS } from "../ledger/batch-saving.js";
import { type Picodollars, picoToNumber, picoToUsd, usdToPico } from "../ledger/money.js";
import { activePriceBook, type PriceBook, resolvePrice } from "../ledger/price-table.js";
import type { Sql } from "./database.js";

/**
 * What reuse, caching and batch mode saved, per UTC day and per ticker. Reuse: the
 * `tokens_saved` and `cost_saved_usd` of analyses, on the day they were created. Caching: the
 * cached input tokens of calls, on the day they started, each saving (input rate − cached-input
 * rate) of the price version and tier that priced the call (a batch call's: the batch card's).
 * Batch mode: the `batch_saved_usd` of calls, on the day they started.
 */

export interface Savings {
  reuse_tokens_saved: number;
  reuse_cost_saved_usd: number;
  cached_input_tokens: number;
  /** Calls of a model with no known price add their cached tokens but no saving. */
  cache_cost_saved_usd: number;
  /** Batch calls' cost at the standard rates less their cost at the batch rates. */
  batch_saved_usd: number;
}

export interface DaySavings extends Savings {
  day: string;
}

export interface TickerSavings extends Savings {
  ticker: string;
}

interface Sums {
  reuseTokens: number;
  reusePico: Picodollars;
  cachedTokens: number;
  cachePico: Picodollars;
  batchPico: Picodollars;
}

const empty = (): Sums => ({ reuseTokens: 0, reusePico: 0n, cachedTokens: 0, cachePico: 0n, batchPico: 0n });

const toSavings = (s: Sums): Savings => ({
  reuse_tokens_saved: s.reuseTokens,
  reuse_cost_saved_usd: picoToNumber(s.reusePico),
  cached_input_tokens: s.cachedTokens,
  cache_cost_saved_usd: picoToNumber(s.cachePico),
  batch_saved_usd: picoToNumber(s.batchPico),
});

/**
 * Picodollars saved per cached token under one price version and tier, or null when the
 * version or model is unknown. The version's own table is searched alone, so the rate is the
 * one that priced the call, whatever came later.
 */
export function cacheSavingPerToken(
  model: string,
  version: string,
  tier: string | null,
  book: PriceBook = activePriceBook(),
): Picodollars | null {
  const table = book.find((t) => t.version === version);
  const resolved = table ? resolvePrice(model, new Date(0), [table]) : undefined;
  if (!resolved) return null;
  const card = rateCardOfTier(resolved.price, tier);
  const saving = usdToPico(card.input) / 1_000_000n - usdToPico(card.cachedInput) / 1_000_000n;
  return saving > 0n ? saving : 0n;
}

/**
 * Writes the cache saving of every version, model and tier of `book` (TOKEN_PRICE_TIERS: the
 * batch tiers too since sql/015) to stats_cache_rates, which the rollups read (sql/009):
 * migrations hold the shipped versions, this adds the PRICE_BOOK_FILE ones. Call at worker
 * start, before any call they price is rolled up.
 * Rows of versions no longer in the book stay: calls they priced still name them. A changed
 * rate is overwritten (the last process to start wins). Returns the rows inserted or changed.
 */
export async function syncCacheRates(sql: Sql, book: PriceBook = activePriceBook()): Promise<number> {
  const rows = book.flatMap((table) =>
    Object.keys(table.models).flatMap((model) =>
      TOKEN_PRICE_TIERS.map((tier) => ({
        version: table.version,
        model,
        tier,
        // USD per token, exact: picodollars are integral, NUMERIC(24, 12) holds them.
        saving: picoToUsd(cacheSavingPerToken(model, table.version, tier, book) ?? 0n),
      })),
    ),
  );
  if (rows.length === 0) return 0;
  const result = await sql`
    INSERT INTO stats_cache_rates AS r (version, model, tier, saving_per_token)
    SELECT x.version, x.model, x.tier, x.saving
    FROM json_to_recordset(${JSON.stringify(rows)}::text::json)
      AS x (version text, model text, tier text, saving numeric)
    ON CONFLICT (version, model, tier) DO UPDATE SET saving_per_token = EXCLUDED.saving_per_token
    WHERE r.saving_per_token IS DISTINCT FROM EXCLUDED.saving_per_token`;
  return result.count;
}

const DAY_MS = 86_400_000;

/** The last `days` UTC days up to `now`'s day: [from, to) as dates and each day's label. */
function window(days: number, now: Date) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const from = new Date(today - (days - 1) * DAY_MS);
  const to = new Date(today + DAY_MS);
  const labels = Array.from({ length: days }, (_, i) =>
    new Date(from.getTime() + i * DAY_MS).toISOString().slice(0, 10),
  );
  return { from, to, labels };
}

/** Savings of the last `days` UTC days: every day oldest first, tickers by cost saved. */
export async function savingsByDay(
  sql: Sql,
  days: number,
  now: Date = new Date(),
): Promise<{ days: DaySavings[]; tickers: TickerSavings[] }> {
  const { from, to, labels } = window(days, now);
  const [reuse, calls] = await Promise.all([
    sql<{ day: string; ticker: string; tokens: number; cost: string }[]>`
      SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, ticker,
             sum(tokens_saved)::bigint AS tokens, sum(cost_saved_usd)::text AS cost
      FROM stock_analyses
      WHERE created_at >= ${from} AND created_at < ${to} AND (tokens_saved > 0 OR cost_saved_usd > 0)
      GROUP BY 1, 2`,
    sql<
      {
        day: string;
        ticker: string;
        model: string;
        price_version: string | null;
        price_tier: string | null;
        tokens: number;
        batch_saved: string | null;
      }[]
    >`
      SELECT to_char(c.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, a.ticker, c.model,
             c.price_version, c.price_tier, sum(c.cached_input_tokens)::bigint AS tokens,
             sum(c.batch_saved_usd)::text AS batch_saved
      FROM llm_calls c JOIN stock_analyses a ON a.id = c.analysis_id
      WHERE c.started_at >= ${from} AND c.started_at < ${to}
        AND (c.cached_input_tokens > 0 OR c.batch_saved_usd IS NOT NULL)
      GROUP BY 1, 2, 3, 4, 5`,
  ]);
  const byDay = new Map(labels.map((day) => [day, empty()]));
  const byTicker = new Map<string, Sums>();
  const both = (day: string, ticker: string): Sums[] => {
    let t = byTicker.get(ticker);
    if (!t) {
      t = empty();
      byTicker.set(ticker, t);
    }
    const d = byDay.get(day);
    return d ? [d, t] : [t];
  };
  for (const row of reuse) {
    const pico = usdToPico(row.cost);
    for (const s of both(row.day, row.ticker)) {
      s.reuseTokens += row.tokens;
      s.reusePico += pico;
    }
  }
  for (const row of calls) {
    const perToken =
      row.price_version === null ? null : cacheSavingPerToken(row.model, row.price_version, row.price_tier);
    const pico = perToken === null ? 0n : perToken * BigInt(row.tokens);
    const batchPico = row.batch_saved === null ? 0n : usdToPico(row.batch_saved);
    for (const s of both(row.day, row.ticker)) {
      s.cachedTokens += row.tokens;
      s.cachePico += pico;
      s.batchPico += batchPico;
    }
  }
  const tickers = [...byTicker.entries()]
    .map(([ticker, s]) => ({ ticker, ...toSavings(s), total: s.reusePico + s.cachePico + s.batchPico }))
    .sort((a, b) => (b.total > a.total ? 1 : b.total < a.total ? -1 : a.ticker < b.ticker ? -1 : 1))
    .map(({ total: _total, ...rest }) => rest);
  return {
    days: [...byDay.entries()].map(([day, s]) => ({ day, ...toSavings(s) })),
    tickers,
  };
}
