import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { PriceBar } from "../../src/market/types.js";
import {
  countPriceBars,
  importPriceBars,
  loadPriceBars,
  replacePriceBars,
  upsertPriceBars,
} from "../../src/store/price-bars-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";
import { barsFromCloses } from "../market/fixtures.js";

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

const BARS = barsFromCloses([100.25, 101.5, 99.75, 102.125, 103]);

describe("price_bars repository", () => {
  it("inserts, then updates in place on the same (ticker, source, date)", async () => {
    const first = await upsertPriceBars(db.sql, {
      ticker: "TCS",
      source: "import",
      currency: "INR",
      bars: BARS,
    });
    expect(first).toEqual({
      ticker: "TCS",
      rows: 5,
      inserted: 5,
      updated: 0,
      firstDate: BARS[0]?.date,
      lastDate: BARS[4]?.date,
      currency: "INR",
    });
    const changed = BARS.map((bar, i) => (i === 2 ? { ...bar, close: 100, volume: 7 } : bar));
    const extended = [...changed, { ...(BARS[4] as PriceBar), date: "2024-01-08" }];
    const second = await upsertPriceBars(db.sql, {
      ticker: "TCS",
      source: "import",
      currency: null,
      bars: extended,
    });
    expect(second).toMatchObject({ rows: 6, inserted: 1, updated: 5, currency: "INR" });

    const stored = await loadPriceBars(db.sql, "TCS", "import");
    expect(stored?.bars).toEqual(extended);
    expect(stored?.currency).toBe("INR"); // kept: the second write did not name one
    expect(await countPriceBars(db.sql, { ticker: "TCS" })).toBe(6);
  });

  it("keeps imported and live bars of one ticker apart", async () => {
    await upsertPriceBars(db.sql, { ticker: "TCS.NS", source: "import", currency: null, bars: BARS });
    await upsertPriceBars(db.sql, {
      ticker: "TCS.NS",
      source: "live",
      currency: "INR",
      bars: BARS.map((bar) => ({ ...bar, volume: bar.volume + 1 })),
    });
    expect((await loadPriceBars(db.sql, "TCS.NS", "import"))?.bars).toEqual(BARS);
    expect((await loadPriceBars(db.sql, "TCS.NS", "live"))?.bars[0]?.volume).toBe((BARS[0]?.volume ?? 0) + 1);
    expect(await loadPriceBars(db.sql, "TCS", "import")).toBeNull();
  });

  it("replaces a ticker's live cache wholesale and stamps fetched_at", async () => {
    await upsertPriceBars(db.sql, { ticker: "INFY.NS", source: "live", currency: "INR", bars: BARS });
    const fetchedAt = new Date("2026-11-20T06:00:00Z");
    await replacePriceBars(db.sql, {
      ticker: "INFY.NS",
      source: "live",
      currency: "INR",
      bars: BARS.slice(3),
      fetchedAt,
    });
    const stored = await loadPriceBars(db.sql, "INFY.NS", "live");
    expect(stored?.bars).toEqual(BARS.slice(3));
    expect(stored?.fetchedAt).toEqual(fetchedAt);
  });

  it("imports several tickers in one transaction: one bad row and nothing is written", async () => {
    const bad = BARS.map((bar, i) => (i === 3 ? { ...bar, high: bar.low - 1 } : bar)); // high below low
    await expect(
      importPriceBars(
        db.sql,
        new Map([
          ["AAA", BARS],
          ["BBB", bad],
        ]),
        { currency: null },
      ),
    ).rejects.toThrow(/price_bars_check|violates check constraint/);
    expect(await countPriceBars(db.sql)).toBe(0);
  });

  it("writes an empty list as nothing", async () => {
    expect(
      await upsertPriceBars(db.sql, { ticker: "TCS", source: "import", currency: null, bars: [] }),
    ).toMatchObject({
      rows: 0,
    });
    expect(await countPriceBars(db.sql)).toBe(0);
  });
});
