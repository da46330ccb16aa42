import type { Logger } from "../logger.js";
import type { PriceProvider, PriceSeries } from "./types.js";

/**
 * Asks providers in order and returns the first series with bars, so precedence is the
 * order of the list: imported data before the live feed before the shipped samples.
 * A provider that throws is not skipped: a broken database must fail the analysis loudly
 * rather than quietly analyse sample data. (The live provider handles its own outages.)
 */
export class CompositePriceProvider implements PriceProvider {
  readonly providers: readonly PriceProvider[];
  private readonly logger: Logger | undefined;

  constructor(providers: readonly PriceProvider[], opts: { logger?: Logger } = {}) {
    this.providers = providers;
    this.logger = opts.logger;
  }

  async load(ticker: string): Promise<PriceSeries | null> {
    for (const provider of this.providers) {
      const series = await provider.load(ticker);
      if (series !== null && series.bars.length > 0) {
        this.logger?.debug({ ticker, source: series.source.label }, "market data source chosen");
        return series;
      }
    }
    return null;
  }
}
