import type { PriceBar } from "../types.js";
import type { ChartQuote } from "./yahoo-chart-client.js";

export interface MappedBars {
  bars: PriceBar[];
  /** Rows left out: a price missing or not positive (holidays and halts come back as nulls). */
  skipped: number;
  /** Rows whose open or close lay outside high–low and had the range widened to hold them. */
  repaired: number;
}

/**
 * Turns chart() quotes into daily bars in ascending date order, one per exchange-local day.
 * Yahoo stamps a daily bar at the session open in UTC; adding the exchange's offset gives
 * the local calendar day (an NSE bar at 03:45Z is 09:15 IST on the same date). While a
 * session is open Yahoo may send that day twice (the bar and a live quote); the later wins.
 */
export function barsFromChartQuotes(quotes: readonly ChartQuote[], gmtOffsetSeconds: number): MappedBars {
  const byDate = new Map<string, PriceBar>();
  let skipped = 0;
  let repaired = 0;
  for (const quote of quotes) {
    const { open, high, low, close } = quote;
    if (!isPrice(open) || !isPrice(high) || !isPrice(low) || !isPrice(close)) {
      skipped++;
      continue;
    }
    // Adjusted feeds sometimes put the open a tick outside the day's range; widen rather
    // than drop, since the close is what most indicators read.
    const top = Math.max(high, open, close);
    const bottom = Math.min(low, open, close);
    if (top !== high || bottom !== low) repaired++;
    const volume =
      quote.volume !== null && Number.isFinite(quote.volume) && quote.volume > 0 ? quote.volume : 0;
    const date = new Date(quote.date.getTime() + gmtOffsetSeconds * 1000).toISOString().slice(0, 10);
    byDate.set(date, { date, open, high: top, low: bottom, close, volume });
  }
  const bars = [...byDate.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  return { bars, skipped, repaired };
}

function isPrice(value: number | null): value is number {
  return value !== null && Number.isFinite(value) && value > 0;
}
