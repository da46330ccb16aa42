import { describe, expect, it } from "vitest";
import { computeIndicators } from "../../src/market/indicators.js";
import { formatMarketBrief } from "../../src/market/market-brief.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";
import type { PriceSeries } from "../../src/market/types.js";
import { barsFromCloses } from "./fixtures.js";

async function briefFor(
  ticker: string,
  recentBars?: number,
): Promise<{ series: PriceSeries; brief: string }> {
  // A fresh provider each time, so determinism does not lean on a shared cache.
  const series = await new SamplePriceProvider().load(ticker);
  if (series === null) throw new Error(`no sample for ${ticker}`);
  const opts = recentBars === undefined ? {} : { recentBars };
  return { series, brief: formatMarketBrief(series, computeIndicators(series.bars), opts) };
}

describe("formatMarketBrief", () => {
  it("has the exact Last close line the Gemini emulator parses", async () => {
    const { series, brief } = await briefFor("RELIANCE");
    const close = series.bars.at(-1)?.close ?? 0;
    expect(brief).toContain(`\nLast close: ${close.toFixed(2)}\n`);
    expect(Number(/Last close: ([\d.]+)/.exec(brief)?.[1])).toBeCloseTo(close, 2);
  });

  it("names the ticker, currency, data source and last bar date", async () => {
    const { series, brief } = await briefFor("TCS");
    expect(brief).toContain("Ticker: TCS\n");
    expect(brief).toContain("Currency: INR\n");
    expect(brief).toContain("Data source: synthetic (seeded) — not real NSE prices\n");
    expect(brief).toContain(`Last bar date: ${series.bars.at(-1)?.date}\n`);
    expect(brief).toMatch(/^RSI\(14\): \d+\.\d{2}$/m);
    expect(brief).toMatch(/^Support: \d/m);
    expect(brief).not.toMatch(/NaN|undefined|Infinity/);
  });

  it("is byte-identical for identical input", async () => {
    const first = await briefFor("AAPL");
    const second = await briefFor("AAPL");
    expect(second.brief).toBe(first.brief);
  });

  it("ends with the last 30 bars by default, or as many as asked", async () => {
    const { series, brief } = await briefFor("INFY");
    const tableRows = (text: string) => text.split("\n").filter((line) => /^\d{4}-\d{2}-\d{2},/.test(line));
    const rows = tableRows(brief);
    expect(rows).toHaveLength(30);
    const last = series.bars.at(-1);
    expect(rows.at(-1)).toBe(
      `${last?.date},${last?.open.toFixed(2)},${last?.high.toFixed(2)},${last?.low.toFixed(2)},${last?.close.toFixed(2)},${last?.volume}`,
    );
    expect(tableRows((await briefFor("INFY", 5)).brief)).toHaveLength(5);
    expect((await briefFor("INFY", 0)).brief).not.toContain("## Last");
  });

  it("prints n/a for indicators a short series cannot support", () => {
    const series: PriceSeries = {
      ticker: "NEW",
      currency: "INR",
      source: { kind: "csv", label: "test" },
      bars: barsFromCloses([10, 10.5, 10.25]),
    };
    const brief = formatMarketBrief(series, computeIndicators(series.bars));
    expect(brief).toContain("\nLast close: 10.25\n");
    expect(brief).toContain("RSI(14): n/a");
    expect(brief).toContain("MACD(12,26,9): n/a");
    expect(brief).toContain("Support: none found");
    expect(brief).not.toMatch(/NaN|undefined/);
  });
});
