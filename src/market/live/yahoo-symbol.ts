/**
 * How a stock-ledger ticker becomes a Yahoo Finance symbol:
 *  1. A ticker that already names an exchange (anything with a dot: TCS.NS, RELIANCE.BO,
 *     VOD.L) is Yahoo's own spelling and passes through unchanged.
 *  2. A bare ticker that is one of our NSE tickers (the INR samples: RELIANCE, TCS, INFY,
 *     HDFCBANK) gets `.NS`: RELIANCE → RELIANCE.NS.
 *  3. Any other bare ticker passes through (AAPL, MSFT). For another Indian stock write the
 *     suffix (WIPRO.NS); for US share classes write Yahoo's dash (BRK-B), since a dot would
 *     read as an exchange suffix (BRK.B is not on Yahoo).
 */
export function toYahooSymbol(ticker: string, nseTickers: ReadonlySet<string>): string {
  const symbol = ticker.trim().toUpperCase();
  if (symbol.includes(".")) return symbol;
  return nseTickers.has(symbol) ? `${symbol}.NS` : symbol;
}
