import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type ExecuteDeps, executeAnalysis } from "../../src/analysis/execute-analysis.js";
import {
  MarketInputsCache,
  type WatchedMarketInputs,
  watchedMarketInputs,
} from "../../src/analysis/market-inputs.js";
import { logger } from "../../src/logger.js";
import { createPriceProvider } from "../../src/market/create-provider.js";
import { LivePriceProvider } from "../../src/market/live/live-provider.js";
import { YahooChartClient } from "../../src/market/live/yahoo-chart-client.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { runCli } from "../helpers/cli.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { capturedLogger, ok, recordedFetch } from "../market/live-helpers.js";

let h: PipelineHarness;
let market: WatchedMarketInputs;
let deps: ExecuteDeps;
let dir: string;

beforeAll(async () => {
  h = await createPipelineHarness();
  dir = await mkdtemp(path.join(tmpdir(), "sl-inputs-"));
  // As the worker builds it (src/resources.ts): imported bars before the shipped samples.
  const prices = createPriceProvider({ sql: h.db.sql, logger });
  market = watchedMarketInputs({ listenSql: h.db.sql, prices, charts: false, logger });
  deps = { ...h.deps, prices, marketInputs: market.cache };
  await market.watch?.ready;
});
afterAll(async () => {
  await market.close();
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

async function analyse(ticker: string): Promise<AnalysisRow> {
  return (await executeAnalysis(await h.queue(ticker), deps)) as AnalysisRow;
}

/** `stock-ledger import-prices` in its own process, as a user runs it. */
async function importPrices(ticker: string, closes: number[]): Promise<void> {
  const start = Date.UTC(2025, 0, 1);
  const lines = closes.map((close, i) => {
    const date = new Date(start + i * 86_400_000).toISOString().slice(0, 10);
    return `${date},${close},${close + 1},${close - 1},${close},${100_000 + i}`;
  });
  const file = path.join(dir, `${ticker}-${closes.length}.csv`);
  await writeFile(file, `date,open,high,low,close,volume\n${lines.join("\n")}\n`);
  const result = await runCli(["import-prices", file, "--ticker", ticker], { DATABASE_URL: h.db.url });
  expect(result.code, result.stderr).toBe(0);
}

const rising = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);

describe("market inputs cached per ticker and data", () => {
  it("prepares a ticker's inputs once: the second analysis neither loads nor recomputes", async () => {
    const before = market.cache.stats();
    const first = await analyse("HDFCBANK");
    const second = await analyse("HDFCBANK");
    const after = market.cache.stats();
    expect([first.status, second.status]).toEqual(["completed", "completed"]);
    expect(after.computations - before.computations).toBe(1);
    expect(after.hits - before.hits).toBe(1);
    expect(second.data_hash).toBe(first.data_hash);
    expect(second.market_data_source).toBe(first.market_data_source);
  });

  it("switches a ticker analysed from samples to bars imported later, and to each re-import", async () => {
    const fromSamples = await analyse("INFY");
    expect(fromSamples.market_data_source).toMatch(/synthetic|sample|real/i);

    const seen = market.cache.stats().invalidations;
    await importPrices("INFY", rising(60, 1200));
    await vi.waitFor(() => expect(market.cache.stats().invalidations).toBe(seen + 1));
    const imported = await analyse("INFY");
    expect(imported.market_data_source).toBe("imported CSV (60 bars)");
    expect(imported.data_hash).not.toBe(fromSamples.data_hash);
    // The emulator's entry price is the brief's "Last close".
    expect(imported.decision?.entry).toBe(1259);

    await importPrices("INFY", [...rising(60, 1200), 1300.25]);
    await vi.waitFor(() => expect(market.cache.stats().invalidations).toBe(seen + 2));
    const reimported = await analyse("INFY");
    expect(reimported.market_data_source).toBe("imported CSV (61 bars)");
    expect(reimported.data_hash).not.toBe(imported.data_hash);
    expect(reimported.decision?.entry).toBe(1300.25);
    const brief = (await market.cache.get("INFY"))?.brief;
    expect(brief).toContain("Last close: 1300.25");
  });

  it("picks up a ticker that had no bars anywhere once they are imported", async () => {
    const none = await analyse("ZZLATER");
    expect(none.status).toBe("failed");
    expect(none.error).toMatch(/no market data for ZZLATER/);
    await importPrices("ZZLATER", rising(40, 50));
    const later = await analyse("ZZLATER");
    expect(later.status).toBe("completed");
    expect(later.market_data_source).toBe("imported CSV (40 bars)");
    expect(later.decision?.entry).toBe(89);
  });

  it("drops only the imported ticker's entry", async () => {
    await market.cache.get("AAPL");
    expect((await market.cache.get("MSFT"))?.source.kind).toMatch(/^sample-/);
    const before = market.cache.stats();
    await importPrices("MSFT", rising(30, 400));
    await vi.waitFor(() => expect(market.cache.stats().invalidations).toBe(before.invalidations + 1));
    await market.cache.get("AAPL");
    expect((await market.cache.get("MSFT"))?.source.kind).toBe("imported");
    expect(market.cache.stats()).toMatchObject({
      hits: before.hits + 1,
      computations: before.computations + 1,
    });
  });

  it("gives concurrent analyses of one ticker a single computation", async () => {
    market.cache.reset();
    const before = market.cache.stats();
    const rows = await Promise.all([1, 2, 3, 4].map(() => analyse("RELIANCE")));
    expect(rows.map((row) => row.status)).toEqual(["completed", "completed", "completed", "completed"]);
    expect(new Set(rows.map((row) => row.data_hash)).size).toBe(1);
    const after = market.cache.stats();
    expect(after.computations - before.computations).toBe(1);
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(3);
  });
});

describe("MarketInputsCache bounds and source rules", () => {
  it("keeps at most maxEntries tickers, dropping the least recently used", async () => {
    const cache = new MarketInputsCache({
      prices: new SamplePriceProvider(),
      charts: false,
      reliable: () => true,
      maxEntries: 2,
    });
    await cache.get("TCS");
    await cache.get("INFY");
    await cache.get("TCS"); // INFY is now the least recently used
    await cache.get("AAPL");
    expect(cache.stats()).toMatchObject({ size: 2, evictions: 1, hits: 1, computations: 3 });
    await cache.get("TCS");
    expect(cache.stats()).toMatchObject({ hits: 2, computations: 3 });
    await cache.get("INFY");
    expect(cache.stats()).toMatchObject({ computations: 4, evictions: 2 });
  });

  it("does not keep live inputs past the live feed's cache TTL", async () => {
    const { logger: quiet } = capturedLogger();
    const recorded = recordedFetch([ok()]);
    const clock = { now: new Date("2026-11-20T06:00:00Z") };
    const ttlMs = 60_000;
    const live = new LivePriceProvider({
      sql: h.db.sql,
      client: new YahooChartClient({ logger: quiet, fetch: recorded.fetch }),
      logger: quiet,
      nseTickers: async () => new Set(["RELIANCE"]),
      cacheTtlMs: ttlMs,
      timeoutMs: 5_000,
      now: () => clock.now,
    });
    const cache = new MarketInputsCache({
      prices: live,
      charts: false,
      reliable: () => true,
      now: () => clock.now.getTime(),
    });
    const first = await cache.get("RELIANCE");
    expect(first?.source.kind).toBe("live");
    clock.now = new Date(clock.now.getTime() + ttlMs - 1);
    await cache.get("RELIANCE");
    expect(cache.stats()).toMatchObject({ hits: 1, computations: 1 });
    clock.now = new Date(clock.now.getTime() + 1);
    await cache.get("RELIANCE");
    expect(cache.stats()).toMatchObject({ hits: 1, computations: 2 });
    expect(recorded.urls).toHaveLength(2); // the provider refetched: its cache had expired too
  });

  it("keeps sample inputs only briefly, so a live feed that was down is asked again", async () => {
    let now = 0;
    const cache = new MarketInputsCache({
      prices: new SamplePriceProvider(),
      charts: false,
      reliable: () => true,
      sampleTtlMs: 60_000,
      now: () => now,
    });
    expect((await cache.get("TCS"))?.source.kind).toMatch(/^sample-/);
    now = 59_999;
    await cache.get("TCS");
    expect(cache.stats()).toMatchObject({ hits: 1, computations: 1 });
    now = 60_000;
    await cache.get("TCS");
    expect(cache.stats()).toMatchObject({ hits: 1, computations: 2 });
  });

  it("caches nothing until listening, and forgets everything when the listener reconnects or goes quiet", async () => {
    const proxy = new TcpProxy(Number(new URL(h.db.url).port || 5432));
    const port = await proxy.start();
    const url = new URL(h.db.url);
    url.port = String(port);
    proxy.cut();
    // No array-type fetch on connect: postgres.js drops that query's promise, so a proxy cut
    // landing on it would surface as an unhandled rejection (porsager/postgres#1192); the
    // entry points guard against it (guardTypeFetchRejections), vitest would still report it.
    const sql = postgres(url.toString(), { max: 2, fetch_types: false, onnotice: () => {} });
    const watched = watchedMarketInputs({
      listenSql: sql,
      prices: new SamplePriceProvider(),
      charts: false,
      logger,
      heartbeatMs: 100,
    });
    const { cache, watch } = watched;
    if (!watch) throw new Error("a listen connection was given: there must be a watch");
    try {
      // The database is unreachable: the listener is not in place, so nothing is kept.
      await cache.get("TCS");
      await cache.get("TCS");
      expect(cache.stats()).toMatchObject({ bypassed: 2, computations: 2, size: 0 });

      proxy.restore();
      await watch.ready;
      await cache.get("TCS");
      await cache.get("TCS");
      expect(cache.stats()).toMatchObject({ hits: 1, computations: 3, size: 1 });

      // A dropped listen connection re-listens by itself; what it missed is forgotten.
      const resets = cache.stats().resets;
      await h.db.sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'listen%'`;
      await vi.waitFor(() => expect(cache.stats().resets).toBe(resets + 1));
      expect(cache.stats().size).toBe(0);
      await vi.waitFor(() => expect(watch.reliable).toBe(true));

      // Cut off without a reconnect: three silent heartbeats and the cache stops trusting itself.
      await cache.get("TCS");
      expect(cache.stats().size).toBe(1);
      proxy.cut();
      await vi.waitFor(() => expect(watch.reliable).toBe(false), { timeout: 3_000 });
      const quiet = cache.stats();
      await cache.get("TCS");
      expect(cache.stats()).toMatchObject({ bypassed: quiet.bypassed + 1, size: 0 });

      proxy.restore();
      await vi.waitFor(() => expect(watch.reliable).toBe(true), { timeout: 5_000 });
    } finally {
      await watched.close();
      proxy.restore();
      await sql.end({ timeout: 1 });
      await proxy.close();
    }
  });
});
