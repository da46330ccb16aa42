import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CompositePriceProvider } from "../../src/market/composite-provider.js";
import { createPriceProvider } from "../../src/market/create-provider.js";
import type { ChartClient } from "../../src/market/live/yahoo-chart-client.js";
import { PriceBarsProvider } from "../../src/market/price-bars-provider.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";
import type { PriceProvider } from "../../src/market/types.js";
import { importPriceBars } from "../../src/store/price-bars-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";
import { barsFromCloses } from "./fixtures.js";
import { capturedLogger } from "./live-helpers.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await db.sql`DELETE FROM price_bars`;
});

const IMPORTED = barsFromCloses([2001, 2003, 2002.5, 2010]);
const { logger } = capturedLogger();

/** A chart client that must not be asked: imported data has to win before it. */
const untouchable: ChartClient & { calls: number } = {
  calls: 0,
  async dailyBars() {
    this.calls++;
    throw new Error("the live feed was asked although imported bars exist");
  },
};

describe("PriceBarsProvider", () => {
  it("serves imported bars with an honest label, and null for tickers never imported", async () => {
    await importPriceBars(db.sql, new Map([["RELIANCE", IMPORTED]]), { currency: null });
    const provider = new PriceBarsProvider(db.sql);
    expect(await provider.load("reliance")).toEqual({
      ticker: "RELIANCE",
      currency: "INR",
      source: { kind: "imported", label: "imported CSV (4 bars)" },
      bars: IMPORTED,
    });
    expect(await provider.load("TCS")).toBeNull();
  });

  it("uses the currency the import named", async () => {
    await importPriceBars(db.sql, new Map([["AAPL", IMPORTED]]), { currency: "USD" });
    expect((await new PriceBarsProvider(db.sql).load("AAPL"))?.currency).toBe("USD");
  });
});

describe("provider precedence", () => {
  it("sample mode: imported bars win, the samples serve the rest, unknown tickers get null", async () => {
    await importPriceBars(db.sql, new Map([["RELIANCE", IMPORTED]]), { currency: null });
    const prices = createPriceProvider({ sql: db.sql, logger });
    expect((await prices.load("RELIANCE"))?.source.label).toBe("imported CSV (4 bars)");
    expect((await prices.load("TCS"))?.source.kind).toBe("sample-synthetic");
    expect((await prices.load("AAPL"))?.source.kind).toBe("sample-real");
    expect(await prices.load("NOSUCH")).toBeNull();
  });

  it("live mode: imported bars still win and the feed is not asked", async () => {
    await importPriceBars(db.sql, new Map([["INFY", IMPORTED]]), { currency: null });
    const prices = createPriceProvider({
      sql: db.sql,
      logger,
      market: { source: "live", cacheTtlMs: 60_000, timeoutMs: 1000 },
      chartClient: untouchable,
    });
    expect((await prices.load("INFY"))?.source.kind).toBe("imported");
    expect(untouchable.calls).toBe(0);
  });

  it("takes the first provider with bars, skipping ones with none", async () => {
    const empty: PriceProvider = { load: async (ticker) => ({ ...IMPORTED_SERIES, ticker, bars: [] }) };
    const none: PriceProvider = { load: async () => null };
    const composite = new CompositePriceProvider([none, empty, new SamplePriceProvider()]);
    expect((await composite.load("TCS"))?.source.kind).toBe("sample-synthetic");
  });

  it("lets a provider's failure through instead of quietly serving samples", async () => {
    const broken: PriceProvider = {
      load: async () => {
        throw new Error("database is down");
      },
    };
    await expect(new CompositePriceProvider([broken, new SamplePriceProvider()]).load("TCS")).rejects.toThrow(
      "database is down",
    );
  });
});

const IMPORTED_SERIES = {
  ticker: "X",
  currency: "INR",
  source: { kind: "imported" as const, label: "imported CSV (0 bars)" },
  bars: IMPORTED,
};
