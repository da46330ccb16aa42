import { SamplePriceProvider } from "./sample-provider.js";
import type { PriceProvider, PriceSeries } from "./types.js";
import { MarketDataError } from "./types.js";

export { type CandlePattern, type CandlePatternName, findCandlePatterns } from "./candles.js";
export {
  CHART_KINDS,
  type ChartKind,
} from "./chart/chart-kinds.js";
export {
  type ChartImage,
  type ChartStage,
  DEFAULT_CHART_SIZE,
  renderChartPng,
  renderStageCharts,
  STAGE_CHART_KINDS,
} from "./chart/render.js";
export { type Breakout, type DoublePattern, findBreakouts, findDoublePatterns } from "./chart-patterns.js";
export { CompositePriceProvider } from "./composite-provider.js";
export { createPriceProvider, type PriceProviderDeps } from "./create-provider.js";
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
export { LivePriceError, type LivePriceFailure } from "./live/live-errors.js";
export { LivePriceProvider, type LivePriceProviderOptions } from "./live/live-provider.js";
export { type ChartClient, type ChartResponse, YahooChartClient } from "./live/yahoo-chart-client.js";
export { toYahooSymbol } from "./live/yahoo-symbol.js";
export { formatMarketBrief } from "./market-brief.js";
export { floorPivots, type PivotLevels } from "./pivots.js";
export { DEFAULT_IMPORT_CURRENCY, PriceBarsProvider } from "./price-bars-provider.js";
export type { VolumeStats, YearRange } from "./price-stats.js";
export { type TrendRegime, trendRegime, type VolumeRegime, volumeRegime } from "./regime.js";
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
