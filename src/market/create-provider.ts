import type { MarketDataConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { Sql } from "../store/database.js";
import { CompositePriceProvider } from "./composite-provider.js";
import { LivePriceProvider } from "./live/live-provider.js";
import { type ChartClient, YahooChartClient } from "./live/yahoo-chart-client.js";
import { PriceBarsProvider } from "./price-bars-provider.js";
import { SamplePriceProvider } from "./sample-provider.js";

export interface PriceProviderDeps {
  sql: Sql;
  logger: Logger;
  /** Unset means sample mode. */
  market?: MarketDataConfig | undefined;
  /** Shared so the samples are parsed once per process. */
  samples?: SamplePriceProvider;
  /** Replaces Yahoo in tests. */
  chartClient?: ChartClient;
}

/**
 * The price source for workers and the CLI, in precedence order:
 *   sample mode: imported CSV (price_bars) → shipped samples
 *   live mode:   imported CSV → Yahoo Finance (its cache, then stale cache) → shipped samples
 * Imported bars always win: a user who imported a file meant it to be analysed.
 */
export function createPriceProvider(deps: PriceProviderDeps): CompositePriceProvider {
  const samples = deps.samples ?? new SamplePriceProvider();
  const imported = new PriceBarsProvider(deps.sql);
  if (deps.market?.source !== "live") {
    return new CompositePriceProvider([imported, samples], { logger: deps.logger });
  }
  const live = new LivePriceProvider({
    sql: deps.sql,
    logger: deps.logger,
    client: deps.chartClient ?? new YahooChartClient({ logger: deps.logger }),
    nseTickers: async () => new Set(await samples.tickersIn("INR")),
    cacheTtlMs: deps.market.cacheTtlMs,
    timeoutMs: deps.market.timeoutMs,
  });
  return new CompositePriceProvider([imported, live, samples], { logger: deps.logger });
}
