import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "../../logger.js";
import type { Sql } from "../../store/database.js";
import { loadPriceBars, replacePriceBars, type StoredPriceBars } from "../../store/price-bars-repo.js";
import type { PriceBar, PriceProvider, PriceSeries } from "../types.js";
import { barsFromChartQuotes } from "./chart-mapping.js";
import { LivePriceError, type LivePriceFailure } from "./live-errors.js";
import type { ChartClient } from "./yahoo-chart-client.js";
import { toYahooSymbol } from "./yahoo-symbol.js";

export interface LivePriceProviderOptions {
  sql: Sql;
  client: ChartClient;
  logger: Logger;
  /** Bare tickers that mean NSE listings and get `.NS` (see toYahooSymbol). */
  nseTickers: () => Promise<ReadonlySet<string>>;
  /** Cached bars younger than this are served without asking Yahoo. */
  cacheTtlMs: number;
  /** Per request, body included. */
  timeoutMs: number;
  /** How far back a fetch reaches; ~3 years feeds SMA(200) and the 52-week range with room. */
  historyDays?: number;
  /** Attempts per fetch when Yahoo answers 429 or 5xx. */
  maxAttempts?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => Date;
}

type Freshness =
  | { state: "fetched" | "cached"; stored: StoredPriceBars }
  | { state: "stale"; stored: StoredPriceBars; failure: LivePriceFailure };

const DAY_MS = 86_400_000;

/**
 * Daily bars from Yahoo Finance, cached in price_bars (source 'live') under the Yahoo symbol.
 * Fresh cache → served as is; stale or missing → refetched (429/5xx retried with backoff);
 * refetch failed → the stale cache with a warning, else null so the composite moves on to
 * the shipped samples. Errors other than the feed's (a broken database) propagate.
 */
export class LivePriceProvider implements PriceProvider {
  private readonly opts: Required<LivePriceProviderOptions>;
  private readonly inFlight = new Map<string, Promise<Freshness | null>>();

  constructor(opts: LivePriceProviderOptions) {
    this.opts = {
      historyDays: 1100,
      maxAttempts: 3,
      backoffMs: 1000,
      maxBackoffMs: 15_000,
      sleep: (ms) => delay(ms),
      random: Math.random,
      now: () => new Date(),
      ...opts,
    };
  }

  /** The Yahoo symbol a ticker is fetched and cached under. */
  async symbolFor(ticker: string): Promise<string> {
    return toYahooSymbol(ticker, await this.opts.nseTickers());
  }

  async load(ticker: string): Promise<PriceSeries | null> {
    const wanted = ticker.trim().toUpperCase();
    const symbol = await this.symbolFor(wanted);
    // Analyses of one ticker starting together share one fetch.
    let pending = this.inFlight.get(symbol);
    if (pending === undefined) {
      pending = this.refresh(symbol).finally(() => this.inFlight.delete(symbol));
      this.inFlight.set(symbol, pending);
    }
    const outcome = await pending;
    return outcome === null ? null : seriesOf(wanted, outcome, this.opts.cacheTtlMs);
  }

  private async refresh(symbol: string): Promise<Freshness | null> {
    const { sql, logger, cacheTtlMs } = this.opts;
    const cached = await loadPriceBars(sql, symbol, "live");
    const now = this.opts.now();
    if (cached !== null && now.getTime() - cached.fetchedAt.getTime() < cacheTtlMs) {
      return { state: "cached", stored: cached };
    }
    let fetched: { bars: PriceBar[]; currency: string | null };
    try {
      fetched = await this.fetchWithBackoff(symbol, now);
    } catch (error) {
      if (!(error instanceof LivePriceError)) throw error;
      const context = { symbol, reason: error.kind, status: error.status, detail: error.message };
      if (cached !== null) {
        logger.warn(
          { ...context, cachedBars: cached.bars.length, fetchedAt: cached.fetchedAt.toISOString() },
          `live prices for ${symbol} unavailable (${error.kind}); falling back to ${cached.bars.length} cached bars from ${stamp(cached.fetchedAt)}`,
        );
        return { state: "stale", stored: cached, failure: error.kind };
      }
      logger.warn(
        context,
        `live prices for ${symbol} unavailable (${error.kind}) and none cached; falling back to the next price source`,
      );
      return null;
    }
    const currency =
      fetched.currency !== null && /^[A-Za-z]{3}$/.test(fetched.currency) ? fetched.currency : null;
    await replacePriceBars(sql, {
      ticker: symbol,
      source: "live",
      currency,
      bars: fetched.bars,
      fetchedAt: now,
    });
    logger.info({ symbol, bars: fetched.bars.length }, "fetched live prices");
    return {
      state: "fetched",
      stored: { ticker: symbol, source: "live", currency, bars: fetched.bars, fetchedAt: now },
    };
  }

  private async fetchWithBackoff(
    symbol: string,
    now: Date,
  ): Promise<{ bars: PriceBar[]; currency: string | null }> {
    const { client, logger, timeoutMs, maxAttempts } = this.opts;
    const range = { from: new Date(now.getTime() - this.opts.historyDays * DAY_MS), to: now };
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await client.dailyBars(symbol, range, { timeoutMs });
        const mapped = barsFromChartQuotes(response.quotes, response.gmtOffsetSeconds);
        if (mapped.bars.length === 0) {
          throw new LivePriceError("not_found", `Yahoo Finance returned no daily bars for ${symbol}`);
        }
        if (mapped.skipped > 0 || mapped.repaired > 0) {
          logger.debug({ symbol, skipped: mapped.skipped, repaired: mapped.repaired }, "cleaned live bars");
        }
        return { bars: mapped.bars, currency: response.currency };
      } catch (error) {
        if (!(error instanceof LivePriceError) || !error.retryable || attempt >= maxAttempts) throw error;
        const waitMs = this.backoff(attempt, error.retryAfterMs);
        logger.info({ symbol, attempt, waitMs, reason: error.kind }, "Yahoo Finance refused; backing off");
        await this.opts.sleep(waitMs);
      }
    }
  }

  /** Retry-After when Yahoo sends one, else exponential with equal jitter; capped either way. */
  private backoff(attempt: number, retryAfterMs: number | null): number {
    const { backoffMs, maxBackoffMs, random } = this.opts;
    if (retryAfterMs !== null) return Math.min(retryAfterMs, maxBackoffMs);
    const ceiling = Math.min(backoffMs * 2 ** (attempt - 1), maxBackoffMs);
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }
}

function seriesOf(ticker: string, outcome: Freshness, cacheTtlMs: number): PriceSeries {
  const { stored } = outcome;
  const what = `Yahoo Finance daily bars for ${stored.ticker} (${stored.bars.length} bars, fetched ${stamp(stored.fetchedAt)}`;
  const source: PriceSeries["source"] =
    outcome.state === "stale"
      ? { kind: "live-cached", label: `cached ${what}; refresh failed: ${outcome.failure})` }
      : { kind: "live", label: `${what})` };
  return {
    ticker,
    // Yahoo names the currency in every answer; say so plainly if it ever did not.
    currency: stored.currency ?? "unknown",
    source,
    bars: stored.bars.map((bar) => ({ ...bar })),
    // Stale bars are retried on the next load, so they are fresh for no time at all.
    freshUntil: new Date(outcome.state === "stale" ? 0 : stored.fetchedAt.getTime() + cacheTtlMs),
  };
}

function stamp(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
