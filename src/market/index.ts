import { SamplePriceProvider } from "./sample-provider.js";
import type { PriceProvider, PriceSeries } from "./types.js";
import { MarketDataError } from "./types.js";

export { CsvPriceProvider, PriceFileError, parsePriceCsv, TICKER_PATTERN } from "./csv.js";
export { computeIndicators, type IndicatorSnapshot } from "./indicators.js";
export {
  clusterLevels,
  findSupportResistance,
  findSwingPoints,
  type LevelOptions,
  type PriceLevel,
  type SupportResistance,
  type SwingPoint,
} from "./levels.js";
export { formatMarketBrief } from "./market-brief.js";
export type { VolumeStats, YearRange } from "./price-stats.js";
export { SAMPLES_DIR, SamplePriceProvider } from "./sample-provider.js";
export {
  type DataSource,
  MarketDataError,
  type PriceBar,
  type PriceProvider,
  type PriceSeries,
} from "./types.js";

let defaultProvider: SamplePriceProvider | undefined;

/** The shipped sample data; one instance per process so its parse cache is shared. */
export function defaultPriceProvider(): PriceProvider {
  defaultProvider ??= new SamplePriceProvider();
  return defaultProvider;
}

/** Loads a series or throws MarketDataError when the provider has none (or it has no bars). */
export async function loadPriceSeries(provider: PriceProvider, ticker: string): Promise<PriceSeries> {
  const series = await provider.load(ticker);
  if (series === null || series.bars.length === 0) throw new MarketDataError(ticker);
  return series;
}
