import type { Logger } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPriceProvider } from "../../src/market/create-provider.js";
import { LivePriceProvider } from "../../src/market/live/live-provider.js";
import { YahooChartClient } from "../../src/market/live/yahoo-chart-client.js";
import { toYahooSymbol } from "../../src/market/live/yahoo-symbol.js";
import { countPriceBars, loadPriceBars } from "../../src/store/price-bars-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";
import { capturedLogger, notFound, ok, type Reply, recordedFetch, tooMany } from "./live-helpers.js";

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

const NSE = new Set(["RELIANCE", "TCS", "INFY", "HDFCBANK"]);
const HOUR = 3_600_000;
const T0 = new Date("2026-11-20T06:00:00Z");

/** The real chart client over a recorded fetch, with a clock and sleeps the test controls. */
function liveProvider(replies: Reply[], opts: { logger?: Logger; timeoutMs?: number } = {}) {
  const recorded = recordedFetch(replies);
  const { logger, lines } = opts.logger ? { logger: opts.logger, lines: [] } : capturedLogger();
  const clock = { now: T0 };
  const sleeps: number[] = [];
  const provider = new LivePriceProvider({
    sql: db.sql,
    client: new YahooChartClient({ logger, fetch: recorded.fetch }),
    logger,
    nseTickers: async () => NSE,
    cacheTtlMs: 6 * HOUR,
    timeoutMs: opts.timeoutMs ?? 5_000,
    now: () => clock.now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
  });
  return { provider, urls: recorded.urls, clock, sleeps, lines };
}

describe("toYahooSymbol", () => {
  it.each([
    ["RELIANCE", "RELIANCE.NS"],
    ["reliance", "RELIANCE.NS"],
    ["TCS.NS", "TCS.NS"],
    ["RELIANCE.BO", "RELIANCE.BO"],
    ["WIPRO", "WIPRO"],
    ["WIPRO.NS", "WIPRO.NS"],
    ["AAPL", "AAPL"],
    ["BRK-B", "BRK-B"],
  ])("%s → %s", (ticker, symbol) => {
    expect(toYahooSymbol(ticker, NSE)).toBe(symbol);
  });
});

describe("LivePriceProvider with recorded chart() responses", () => {
  it("maps the answer to exchange-local daily bars and caches them under the Yahoo symbol", async () => {
    const { provider, urls } = liveProvider([ok()]);
    const series = await provider.load("RELIANCE");

    expect(urls).toHaveLength(1);
    const url = new URL(urls[0] as string);
    expect(url.pathname).toBe("/v8/finance/chart/RELIANCE.NS");
    expect(url.searchParams.get("interval")).toBe("1d");
    expect(Number(url.searchParams.get("period2"))).toBe(T0.getTime() / 1000);

    expect(series?.ticker).toBe("RELIANCE");
    expect(series?.currency).toBe("INR");
    expect(series?.source).toEqual({
      kind: "live",
      label: "Yahoo Finance daily bars for RELIANCE.NS (23 bars, fetched 2026-11-20 06:00 UTC)",
    });
    const bars = series?.bars ?? [];
    // 25 rows: the holiday's nulls dropped, the day sent twice kept once.
    expect(bars).toHaveLength(23);
    expect(bars[0]).toEqual({
      date: "2026-10-19",
      open: 1377,
      high: 1380.1,
      low: 1367.55,
      close: 1370.25,
      volume: 5_000_000,
    });
    expect(bars.map((bar) => bar.date)).not.toContain("2026-10-30");
    // The open above the day's high widens the range instead of losing the day.
    expect(bars.find((bar) => bar.date === "2026-11-06")).toMatchObject({
      open: 1386.5,
      high: 1386.5,
      low: 1373.55,
    });
    // The live quote of the last session replaced its earlier row.
    expect(bars.at(-1)).toEqual({
      date: "2026-11-19",
      open: 1377,
      high: 1381.15,
      low: 1369.8,
      close: 1373.5,
      volume: 8_089_511,
    });

    const stored = await loadPriceBars(db.sql, "RELIANCE.NS", "live");
    expect(stored?.bars).toEqual(bars);
    expect(stored?.fetchedAt.toISOString()).toBe(T0.toISOString());
    expect(await countPriceBars(db.sql, { source: "import" })).toBe(0);
  });

  it("serves the cache within the TTL and refetches after it", async () => {
    const { provider, urls, clock } = liveProvider([ok()]);
    await provider.load("RELIANCE");
    clock.now = new Date(T0.getTime() + 5 * HOUR);
    expect((await provider.load("RELIANCE.NS"))?.source.kind).toBe("live");
    expect(urls).toHaveLength(1);

    clock.now = new Date(T0.getTime() + 7 * HOUR);
    const refreshed = await provider.load("RELIANCE");
    expect(urls).toHaveLength(2);
    expect(refreshed?.source.label).toContain("fetched 2026-11-20 13:00 UTC");
    expect((await loadPriceBars(db.sql, "RELIANCE.NS", "live"))?.fetchedAt).toEqual(clock.now);
  });

  it("shares one fetch between concurrent loads of the same symbol", async () => {
    const { provider, urls } = liveProvider([ok()]);
    const [a, b] = await Promise.all([provider.load("RELIANCE"), provider.load("RELIANCE.NS")]);
    expect(urls).toHaveLength(1);
    expect(a?.bars).toEqual(b?.bars);
  });

  it("backs off on 429 (exponential, or Retry-After when sent) and then succeeds", async () => {
    const { provider, urls, sleeps, lines } = liveProvider([tooMany(), tooMany("3"), ok()]);
    const series = await provider.load("RELIANCE");
    expect(series?.bars).toHaveLength(23);
    expect(urls).toHaveLength(3);
    // random() = 1: the full exponential step for the first, the server's 3 s for the second.
    expect(sleeps).toEqual([1000, 3000]);
    expect(lines.filter((line) => line.msg === "Yahoo Finance refused; backing off")).toHaveLength(2);
  });

  it("falls back to stale cached bars, labelled as such, when Yahoo keeps refusing", async () => {
    const first = liveProvider([ok()]);
    await first.provider.load("RELIANCE");

    const { provider, clock, urls, sleeps, lines } = liveProvider([tooMany()]);
    clock.now = new Date(T0.getTime() + 24 * HOUR);
    const series = await provider.load("RELIANCE");
    expect(urls).toHaveLength(3); // maxAttempts
    expect(sleeps).toEqual([1000, 2000]);
    expect(series?.source).toEqual({
      kind: "live-cached",
      label:
        "cached Yahoo Finance daily bars for RELIANCE.NS (23 bars, fetched 2026-11-20 06:00 UTC; refresh failed: rate_limited)",
    });
    expect(series?.bars).toHaveLength(23);
    const warning = lines.find((line) => line.level === 40 && line.msg.startsWith("live prices"));
    expect(warning?.msg).toBe(
      "live prices for RELIANCE.NS unavailable (rate_limited); falling back to 23 cached bars from 2026-11-20 06:00 UTC",
    );
    // The failed refresh left the cache as it was.
    expect((await loadPriceBars(db.sql, "RELIANCE.NS", "live"))?.fetchedAt.toISOString()).toBe(
      T0.toISOString(),
    );
  });

  it("times out a hung request and, with nothing cached, hands over to the samples", async () => {
    const { logger, lines } = capturedLogger();
    const recorded = recordedFetch(["hang"]);
    const prices = createPriceProvider({
      sql: db.sql,
      logger,
      market: { source: "live", cacheTtlMs: 6 * HOUR, timeoutMs: 50 },
      chartClient: new YahooChartClient({ logger, fetch: recorded.fetch }),
    });
    const series = await prices.load("TCS");
    expect(recorded.urls).toHaveLength(1); // a timeout is not retried
    expect(new URL(recorded.urls[0] as string).pathname).toBe("/v8/finance/chart/TCS.NS");
    expect(series?.source.kind).toBe("sample-synthetic");
    expect(lines.find((line) => line.level === 40 && line.msg.startsWith("live prices"))?.msg).toBe(
      "live prices for TCS.NS unavailable (timeout) and none cached; falling back to the next price source",
    );
    expect(await countPriceBars(db.sql)).toBe(0);
  });

  it("treats an unknown symbol as no data, without retrying", async () => {
    const { provider, urls, sleeps } = liveProvider([notFound]);
    expect(await provider.load("NOSUCH")).toBeNull();
    expect(urls).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("refuses an answer that is not a chart (invalid_response) and keeps going", async () => {
    const { provider, lines } = liveProvider([{ status: 200, body: '{"finance":{"result":[]}}' }]);
    expect(await provider.load("RELIANCE")).toBeNull();
    expect(lines.find((line) => line.msg.startsWith("live prices"))?.reason).toBe("invalid_response");
  });
});
