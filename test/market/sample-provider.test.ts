import { describe, expect, it } from "vitest";
import { defaultPriceProvider, loadPriceSeries, MarketDataError } from "../../src/market/index.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";

const SAMPLES = [
  { ticker: "AAPL", currency: "USD", kind: "sample-real" },
  { ticker: "RELIANCE", currency: "INR", kind: "sample-synthetic" },
  { ticker: "TCS", currency: "INR", kind: "sample-synthetic" },
  { ticker: "INFY", currency: "INR", kind: "sample-synthetic" },
  { ticker: "HDFCBANK", currency: "INR", kind: "sample-synthetic" },
  { ticker: "MSFT", currency: "USD", kind: "sample-synthetic" },
] as const;

describe("SamplePriceProvider", () => {
  const provider = new SamplePriceProvider();

  it("lists the six sample tickers", async () => {
    expect((await provider.tickers()).sort()).toEqual(SAMPLES.map((sample) => sample.ticker).sort());
  });

  it.each(SAMPLES)(
    "loads $ticker: ≥ 900 ascending, well-formed bars with an honest label",
    async (sample) => {
      const series = await provider.load(sample.ticker);
      if (series === null) throw new Error(`no sample for ${sample.ticker}`);
      expect(series.ticker).toBe(sample.ticker);
      expect(series.currency).toBe(sample.currency);
      expect(series.source.kind).toBe(sample.kind);
      if (sample.kind === "sample-synthetic") expect(series.source.label).toContain("synthetic");
      else expect(series.source.label).toContain("real");

      expect(series.bars.length).toBeGreaterThanOrEqual(900);
      series.bars.forEach((bar, i) => {
        const previous = series.bars[i - 1];
        if (previous) expect(bar.date > previous.date).toBe(true);
        expect(bar.high).toBeGreaterThanOrEqual(Math.max(bar.open, bar.close));
        expect(bar.low).toBeLessThanOrEqual(Math.min(bar.open, bar.close));
        expect(bar.low).toBeGreaterThan(0);
        expect(Number.isInteger(bar.volume)).toBe(true);
      });
    },
  );

  it.each(SAMPLES.filter((sample) => sample.kind === "sample-synthetic"))(
    "generates $ticker on weekdays only, ending 2026-11-20",
    async ({ ticker }) => {
      const bars = (await provider.load(ticker))?.bars ?? [];
      expect(bars.at(-1)?.date).toBe("2026-11-20");
      const weekend = bars.filter((bar) => [0, 6].includes(new Date(`${bar.date}T00:00:00Z`).getUTCDay()));
      expect(weekend).toEqual([]);
    },
  );

  it("keeps synthetic prices in their intended bands", async () => {
    const bands = {
      RELIANCE: [1300, 1500],
      TCS: [3000, 4200],
      INFY: [1400, 1900],
      HDFCBANK: [1600, 1950],
      MSFT: [350, 500],
    };
    for (const [ticker, [low, high]] of Object.entries(bands)) {
      const closes = (await provider.load(ticker))?.bars.map((bar) => bar.close) ?? [];
      expect(Math.min(...closes), ticker).toBeGreaterThanOrEqual(low as number);
      expect(Math.max(...closes), ticker).toBeLessThanOrEqual(high as number);
    }
  });

  it("looks tickers up case-insensitively and maps an NSE suffix onto the base ticker", async () => {
    expect((await provider.load(" reliance "))?.ticker).toBe("RELIANCE");
    const suffixed = await provider.load("tcs.ns");
    expect(suffixed?.ticker).toBe("TCS.NS");
    expect(suffixed?.bars).toEqual((await provider.load("TCS"))?.bars);
  });

  it("returns null for an unknown ticker", async () => {
    expect(await provider.load("NOSUCHCO")).toBeNull();
    expect(await provider.load("NOSUCHCO.NS")).toBeNull();
  });

  it("hands each caller its own bars, so the cache cannot be corrupted", async () => {
    const first = await provider.load("INFY");
    first?.bars.splice(0, 10);
    if (first?.bars[0]) first.bars[0].close = -1;
    const second = await provider.load("INFY");
    expect(second?.bars.length).toBe(1000);
    expect(second?.bars.every((bar) => bar.close > 0)).toBe(true);
  });

  it("fails loudly when the samples directory has no manifest", async () => {
    await expect(new SamplePriceProvider({ directory: "/nonexistent" }).load("TCS")).rejects.toThrow(
      /manifest\.json/,
    );
  });
});

describe("defaultPriceProvider and loadPriceSeries", () => {
  it("serves the samples", async () => {
    expect((await loadPriceSeries(defaultPriceProvider(), "HDFCBANK")).bars.length).toBeGreaterThan(900);
  });

  it("throws MarketDataError for a ticker without data", async () => {
    const error = await loadPriceSeries(defaultPriceProvider(), "NOSUCHCO").catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(MarketDataError);
    expect(error).toMatchObject({ type: "no_market_data", message: "no market data for NOSUCHCO" });
  });
});
