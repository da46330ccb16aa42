import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { parsePriceBookFile } from "../../src/config/price-book-file.js";
import { mergePriceBooks, PRICE_BOOK, usePriceBook } from "../../src/ledger/price-table.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { savingsByDay, syncCacheRates } from "../../src/store/savings-repo.js";
import { loadStats, parseStatsOptions } from "../../src/store/stats-repo.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

// A negotiated gemini-2.5-flash rate in force for every call this test makes (the built-in
// version starts 2025-12-01): saving per cached token 0.27 − 0.027 = 0.243 USD per 1M.
const FILE = JSON.stringify({
  versions: [
    {
      version: "acme-2026-01",
      effectiveFrom: "2026-01-01",
      models: { "gemini-2.5-flash": { input: "0.27", output: "2.25", cachedInput: "0.027" } },
    },
  ],
});
const FILE_SAVING_PER_TOKEN = 0.243 / 1_000_000;

let h: PipelineHarness;
const book = mergePriceBooks(PRICE_BOOK, parsePriceBookFile(FILE, "acme.json"));

beforeAll(async () => {
  h = await createPipelineHarness();
  usePriceBook(book);
});
afterAll(async () => {
  usePriceBook(PRICE_BOOK);
  await h.close();
});

describe("stats of calls priced by a PRICE_BOOK_FILE version", () => {
  let analysis: AnalysisRow;
  let cached: number;

  beforeAll(async () => {
    // What the worker does at start, before any call of the file's versions is rolled up.
    // One row per tier: standard, long_context, batch, batch_long_context.
    expect(await syncCacheRates(h.db.sql)).toBe(4);
    expect(await syncCacheRates(h.db.sql)).toBe(0);
    const id = await h.queue("TCS");
    await h.db.sql`UPDATE stock_analyses SET context_cache = true WHERE id = ${id}`;
    analysis = (await executeAnalysis(id, h.deps)) as AnalysisRow;
    const [row] = await h.db.sql<{ n: number }[]>`
      SELECT COALESCE(sum(cached_input_tokens), 0)::bigint AS n FROM llm_calls WHERE analysis_id = ${id}`;
    cached = row?.n ?? 0;
  });

  it("records the file's version on every priced call", async () => {
    const versions = await h.db.sql<{ price_version: string | null }[]>`
      SELECT DISTINCT price_version FROM llm_calls WHERE analysis_id = ${analysis.id} AND price_tier <> 'cache_storage'`;
    expect(versions.map((v) => v.price_version)).toEqual(["acme-2026-01"]);
  });

  it("stores the file's cache rates beside the built-in ones", async () => {
    const rows = await h.db.sql<{ tier: string; saving: string }[]>`
      SELECT tier, saving_per_token::text AS saving FROM stats_cache_rates
      WHERE version = 'acme-2026-01' ORDER BY tier`;
    // The file lists no batch rates: half the input rate, the cache rate unchanged (0.135 − 0.027).
    expect(rows).toEqual([
      { tier: "batch", saving: "0.000000108000" },
      { tier: "batch_long_context", saving: "0.000000108000" },
      { tier: "long_context", saving: "0.000000243000" },
      { tier: "standard", saving: "0.000000243000" },
    ]);
  });

  it("counts cache savings at the file's rates in the rollups and on the dashboard", async () => {
    expect(cached).toBeGreaterThan(0);
    const stats = await loadStats(h.db.sql, parseStatsOptions({ range: "all", by: "ticker" }));
    const tcs = stats.groups.find((g) => g.key === "TCS");
    expect(tcs?.cache_cost_saved_usd).toBeCloseTo(cached * FILE_SAVING_PER_TOKEN, 12);
    const { tickers } = await savingsByDay(h.db.sql, 1);
    expect(tickers.find((t) => t.ticker === "TCS")?.cache_cost_saved_usd).toBe(tcs?.cache_cost_saved_usd);
  });

  it("matches a call's model within the version that priced it", async () => {
    // A longer name left by another version must not hide the rate of the version that priced the call.
    await h.db.sql`INSERT INTO stats_cache_rates (version, model, tier, saving_per_token)
      VALUES ('old-file', 'gemini-2.5-flash-x', 'standard', 0.000001)`;
    const [row] = await h.db.sql<{ saving: string }[]>`
      SELECT stats_cache_saving('gemini-2.5-flash-x-001', 'acme-2026-01', 'standard', 1000000)::text AS saving`;
    expect(Number(row?.saving)).toBe(0.243);
  });
});
