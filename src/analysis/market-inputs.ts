import type { Logger } from "../logger.js";
import { computeIndicators, type IndicatorSnapshot } from "../market/indicators.js";
import { formatMarketBrief } from "../market/market-brief.js";
import type { DataSource, PriceProvider, PriceSeries } from "../market/types.js";
import type { Sql } from "../store/database.js";
import { PriceBarsWatch } from "../store/price-bars-changes.js";
import { barsHash, type StageImage, stageChartsFor } from "./stage-charts.js";

/** What an analysis needs of its price data before the first model call. */
export interface MarketInputs {
  ticker: string;
  source: DataSource;
  /** The source's label, as prompts and the analysis row name it. */
  marketDataSource: string;
  indicators: IndicatorSnapshot;
  brief: string;
  /** sha256 of the bars: equal hashes, equal data. */
  dataHash: string;
  /** The chart-reading stages' images by call type; empty when charts are off. */
  charts: Partial<Record<string, StageImage>>;
}

/** Where runAnalysis gets its market inputs; null when no provider has bars for the ticker. */
export interface MarketInputsSource {
  get(ticker: string): Promise<MarketInputs | null>;
}

/**
 * Loads the series and derives everything from it: indicators, brief, hash and (charts on)
 * the stage charts, which stage-charts.ts renders once per ticker and data.
 */
export async function prepareMarketInputs(
  prices: PriceProvider,
  ticker: string,
  opts: { charts: boolean },
): Promise<MarketInputs | null> {
  return (await loadAndPrepare(prices, ticker, opts))?.inputs ?? null;
}

async function loadAndPrepare(
  prices: PriceProvider,
  ticker: string,
  opts: { charts: boolean },
): Promise<{ inputs: MarketInputs; series: PriceSeries } | null> {
  const series = await prices.load(ticker);
  if (!series || series.bars.length === 0) return null;
  const indicators = computeIndicators(series.bars);
  const brief = formatMarketBrief(series, indicators);
  const dataHash = barsHash(series);
  const charts = opts.charts ? await stageChartsFor(series, indicators, dataHash) : {};
  const inputs: MarketInputs = {
    ticker: series.ticker,
    source: series.source,
    marketDataSource: series.source.label,
    indicators,
    brief,
    dataHash,
    charts,
  };
  return { inputs, series };
}

/**
 * How long inputs derived from `series` stay true, by where it came from: imported bars until
 * an import says otherwise (the cache's `changed`); live bars no longer than the live feed's
 * own cache would serve them; a stale live fallback not at all (the live provider asks Yahoo
 * again on the next load); the shipped samples for `sampleTtlMs` — they are what is left when
 * nothing better answered, and with MARKET_DATA=live a feed that was down may be back.
 */
function validUntil(series: PriceSeries, now: number, sampleTtlMs: number): number {
  switch (series.source.kind) {
    case "live":
      return series.freshUntil?.getTime() ?? 0;
    case "live-cached":
      return 0;
    case "sample-real":
    case "sample-synthetic":
      return now + sampleTtlMs;
    default:
      return series.freshUntil?.getTime() ?? Number.POSITIVE_INFINITY;
  }
}

interface Entry {
  inputs: Promise<MarketInputs | null>;
  /** Infinity while in flight, so concurrent analyses join it; then validUntil (ms). */
  expiresAt: number;
}

export interface MarketInputsStats {
  hits: number;
  misses: number;
  /** Loads and computations: misses plus bypasses. */
  computations: number;
  /** Computed without the cache because no change would have reached it (listener down). */
  bypassed: number;
  evictions: number;
  /** Entries dropped because their ticker's bars were imported. */
  invalidations: number;
  resets: number;
  size: number;
}

export interface MarketInputsCacheOptions {
  prices: PriceProvider;
  charts: boolean;
  /** True while an import would reach `changed` or `reset`; nothing is cached otherwise. */
  reliable: () => boolean;
  /** Tickers kept, least recently used dropped first (default 32 with charts, else 512). */
  maxEntries?: number;
  /** How long inputs from the shipped samples are kept (default 60 s). */
  sampleTtlMs?: number;
  now?: () => number;
}

/** A chart set is ~650 kB of base64 PNGs; without charts an entry is a few kB. */
export const DEFAULT_MAX_TICKERS = { charts: 32, plain: 512 } as const;

/**
 * The market inputs of the last analysed tickers, computed once per ticker and price data
 * per process (they cost ~5 ms of CPU, as much as the six model calls' own handling), so an
 * analysis with a warm ticker neither queries price_bars nor recomputes its brief.
 * Concurrent analyses of one ticker share one computation.
 */
export class MarketInputsCache implements MarketInputsSource {
  readonly #prices: PriceProvider;
  readonly #charts: boolean;
  readonly #reliable: () => boolean;
  readonly #maxEntries: number;
  readonly #sampleTtlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #stats = {
    hits: 0,
    misses: 0,
    computations: 0,
    bypassed: 0,
    evictions: 0,
    invalidations: 0,
    resets: 0,
  };

  constructor(opts: MarketInputsCacheOptions) {
    this.#prices = opts.prices;
    this.#charts = opts.charts;
    this.#reliable = opts.reliable;
    this.#maxEntries =
      opts.maxEntries ?? (opts.charts ? DEFAULT_MAX_TICKERS.charts : DEFAULT_MAX_TICKERS.plain);
    this.#sampleTtlMs = opts.sampleTtlMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  get(ticker: string): Promise<MarketInputs | null> {
    if (!this.#reliable()) {
      // What is cached may have missed an import; keep nothing until changes are heard again.
      if (this.#entries.size > 0) this.reset();
      this.#stats.bypassed++;
      return this.#compute(ticker).then((prepared) => prepared?.inputs ?? null);
    }
    const key = ticker.trim().toUpperCase();
    const cached = this.#entries.get(key);
    if (cached && this.#now() < cached.expiresAt) {
      this.#stats.hits++;
      // Most recently used last, so the first is the one to evict.
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached.inputs;
    }
    this.#stats.misses++;
    const entry: Entry = { inputs: Promise.resolve(null), expiresAt: Number.POSITIVE_INFINITY };
    entry.inputs = this.#compute(ticker).then(
      (prepared) => {
        entry.expiresAt = prepared === null ? 0 : validUntil(prepared.series, this.#now(), this.#sampleTtlMs);
        if (this.#now() >= entry.expiresAt) this.#drop(key, entry);
        return prepared?.inputs ?? null;
      },
      (error: unknown) => {
        this.#drop(key, entry); // a failed load is tried again by the next analysis
        throw error;
      },
    );
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string);
      this.#stats.evictions++;
    }
    return entry.inputs;
  }

  /** Bars of `ticker` were imported: its next analysis loads them. */
  changed(ticker: string): void {
    if (this.#entries.delete(ticker.trim().toUpperCase())) this.#stats.invalidations++;
  }

  /** Changes may have been missed: forget everything. */
  reset(): void {
    this.#entries.clear();
    this.#stats.resets++;
  }

  stats(): MarketInputsStats {
    return { ...this.#stats, size: this.#entries.size };
  }

  #compute(ticker: string) {
    this.#stats.computations++;
    return loadAndPrepare(this.#prices, ticker, { charts: this.#charts });
  }

  /** Drops `entry` unless a newer computation already replaced it. */
  #drop(key: string, entry: Entry): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
  }
}

/** A worker's market-inputs cache, kept true by listening for imports. */
export interface WatchedMarketInputs {
  cache: MarketInputsCache;
  /** null when no connection can LISTEN (DATABASE_POOLING=transaction without DATABASE_LISTEN_URL). */
  watch: PriceBarsWatch | null;
  close(): Promise<void>;
}

/**
 * The cache and its price_bars listener. The listener is started but not awaited: until it
 * is in place nothing is cached (see PriceBarsWatch.reliable), so a slow database only
 * costs the first analyses their cache hits.
 */
export function watchedMarketInputs(opts: {
  /** The connection that LISTENs; null: none can (a transaction pooler), so nothing is cached. */
  listenSql: Sql | null;
  prices: PriceProvider;
  charts: boolean;
  logger: Logger;
  maxEntries?: number;
  heartbeatMs?: number;
}): WatchedMarketInputs {
  const cache = new MarketInputsCache({
    prices: opts.prices,
    charts: opts.charts,
    reliable: () => watch?.reliable ?? false,
    maxEntries: opts.maxEntries,
  });
  const watch =
    opts.listenSql &&
    new PriceBarsWatch(
      opts.listenSql,
      { changed: (ticker) => cache.changed(ticker), reset: () => cache.reset() },
      { logger: opts.logger, heartbeatMs: opts.heartbeatMs },
    );
  watch?.start().catch((err: unknown) => {
    opts.logger.warn({ err }, "cannot listen for price imports; market inputs are not cached");
  });
  return { cache, watch, close: async () => watch?.close() };
}
