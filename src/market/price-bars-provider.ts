import type { Sql } from "../store/database.js";
import { loadPriceBars } from "../store/price-bars-repo.js";
import type { PriceProvider, PriceSeries } from "./types.js";

/** An import does not say its currency unless asked (`--currency`); NSE is the home market. */
export const DEFAULT_IMPORT_CURRENCY = "INR";

/**
 * Serves the bars `stock-ledger import-prices` wrote to price_bars. Read on every load, so a
 * fresh import is what the next analysis sees.
 */
export class PriceBarsProvider implements PriceProvider {
  constructor(private readonly sql: Sql) {}

  async load(ticker: string): Promise<PriceSeries | null> {
    const wanted = ticker.trim().toUpperCase();
    const stored = await loadPriceBars(this.sql, wanted, "import");
    if (stored === null) return null;
    return {
      ticker: wanted,
      currency: stored.currency ?? DEFAULT_IMPORT_CURRENCY,
      source: { kind: "imported", label: `imported CSV (${stored.bars.length} bars)` },
      bars: stored.bars,
    };
  }
}
