/** One trading day of prices. Dates are exchange-local calendar days, YYYY-MM-DD. */
export interface PriceBar {
  date: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** Where a series came from; the label goes into prompts and the analysis row, so it must be honest. */
export interface DataSource {
  kind: "sample-real" | "sample-synthetic" | "csv" | "imported" | "live" | "live-cached";
  /** Human text, e.g. "synthetic (seeded) — not real NSE prices". */
  label: string;
}

export interface PriceSeries {
  ticker: string;
  currency: string;
  source: DataSource;
  /** Ascending by date, no duplicates. */
  bars: PriceBar[];
  /**
   * Until when the provider would serve these same bars (the live feed's cache TTL).
   * Unset: until new bars are imported (imported data, shipped samples).
   */
  freshUntil?: Date;
}

export interface PriceProvider {
  /** Resolves to null when the provider has no data for the ticker. */
  load(ticker: string): Promise<PriceSeries | null>;
}

/** No prices for a ticker; `type` is what the ledger stores as the error type. */
export class MarketDataError extends Error {
  readonly type = "no_market_data";
  readonly ticker: string;

  constructor(ticker: string) {
    super(`no market data for ${ticker}`);
    this.name = "MarketDataError";
    this.ticker = ticker;
  }
}
