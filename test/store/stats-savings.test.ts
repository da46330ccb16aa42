import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { TOKEN_PRICE_TIERS } from "../../src/ledger/batch-saving.js";
import { picoToNumber } from "../../src/ledger/money.js";
import { PRICE_BOOK } from "../../src/ledger/price-table.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { rebuildRollups } from "../../src/store/rollups-repo.js";
import { cacheSavingPerToken, savingsByDay } from "../../src/store/savings-repo.js";
import { loadStats, parseStatsOptions, type StatsGroup } from "../../src/store/stats-repo.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

let h: PipelineHarness;

beforeAll(async () => {
  h = await createPipelineHarness();
});
afterAll(() => h.close());

async function analyse(ticker: string, flags: { reuse?: boolean; contextCache?: boolean } = {}) {
  const id = await h.queue(ticker);
  await h.db.sql`UPDATE stock_analyses SET reuse = ${flags.reuse ?? false},
    context_cache = ${flags.contextCache ?? false} WHERE id = ${id}`;
  return (await executeAnalysis(id, h.deps)) as AnalysisRow;
}

const stats = (by: string) => loadStats(h.db.sql, parseStatsOptions({ range: "all", by }));
const group = (groups: StatsGroup[], key: string) => groups.find((g) => g.key === key);

/** Cached input tokens of an analysis' calls, summed from llm_calls. */
async function cachedTokens(id: string): Promise<number> {
  const [row] = await h.db.sql<{ n: number }[]>`
    SELECT COALESCE(sum(cached_input_tokens), 0)::bigint AS n FROM llm_calls WHERE analysis_id = ${id}`;
  return row?.n ?? 0;
}

// gemini-2.5-flash: input $0.30, cached input $0.03 per 1M tokens.
const FLASH_SAVING_PER_TOKEN = (0.3 - 0.03) / 1_000_000;

describe("stats savings", () => {
  let original: AnalysisRow;
  let reused: AnalysisRow;
  let cached: AnalysisRow;
  let cachedCount: number;

  beforeAll(async () => {
    original = await analyse("RELIANCE");
    reused = await analyse("RELIANCE", { reuse: true });
    cached = await analyse("TCS", { contextCache: true });
    cachedCount = await cachedTokens(cached.id);
  });

  it("shows reuse savings per ticker and per day", async () => {
    expect(original.tokens_saved).toBe(0);
    expect(reused.tokens_saved).toBeGreaterThan(0);
    const byTicker = await stats("ticker");
    expect(group(byTicker.groups, "RELIANCE")).toMatchObject({
      analyses: 2,
      tokens_saved: reused.tokens_saved,
      reuse_cost_saved_usd: Number(reused.cost_saved_usd),
    });
    expect(group(byTicker.groups, "TCS")).toMatchObject({ tokens_saved: 0, reuse_cost_saved_usd: 0 });
    const [day, ...others] = (await stats("day")).groups;
    expect(others).toEqual([]);
    expect(day).toMatchObject({ analyses: 3, tokens_saved: reused.tokens_saved });
    expect(day?.reuse_cost_saved_usd).toBe(Number(reused.cost_saved_usd));
    expect(byTicker.totals.tokens_saved).toBe(reused.tokens_saved);
  });

  it("shows caching savings at the input rate less the cached-input rate", async () => {
    // The emulator reports implicit cache hits on ordinary runs too; the reused run made no call.
    const relianceCached = (await cachedTokens(original.id)) + (await cachedTokens(reused.id));
    expect(cachedCount).toBeGreaterThan(0);
    const byTicker = (await stats("ticker")).groups;
    expect(group(byTicker, "TCS")?.cache_cost_saved_usd).toBeCloseTo(
      cachedCount * FLASH_SAVING_PER_TOKEN,
      12,
    );
    expect(group(byTicker, "RELIANCE")?.cache_cost_saved_usd).toBeCloseTo(
      relianceCached * FLASH_SAVING_PER_TOKEN,
      12,
    );
    const all = (cachedCount + relianceCached) * FLASH_SAVING_PER_TOKEN;
    expect((await stats("day")).groups[0]?.cache_cost_saved_usd).toBeCloseTo(all, 12);
    expect(group((await stats("model")).groups, "gemini-2.5-flash")?.cache_cost_saved_usd).toBeCloseTo(
      all,
      12,
    );
  });

  it("agrees with the dashboard's savings, ticker by ticker", async () => {
    const { tickers } = await savingsByDay(h.db.sql, 1);
    const byTicker = (await stats("ticker")).groups;
    for (const t of tickers) {
      expect(group(byTicker, t.ticker)).toMatchObject({
        tokens_saved: t.reuse_tokens_saved,
        reuse_cost_saved_usd: t.reuse_cost_saved_usd,
        cache_cost_saved_usd: t.cache_cost_saved_usd,
      });
    }
    expect(tickers.map((t) => t.ticker).sort()).toEqual(["RELIANCE", "TCS"]);
  });

  it("splits reuse savings by stage from the breakdown", async () => {
    const byStage = await stats("stage");
    for (const [stage, entry] of Object.entries(reused.token_usage_breakdown)) {
      if (!entry.reused_from) continue;
      expect(group(byStage.groups, stage)?.tokens_saved).toBe(entry.tokens_saved);
    }
    const sum = byStage.groups.reduce((total, g) => total + g.tokens_saved, 0);
    expect(sum).toBe(reused.tokens_saved);
  });

  it("rebuilt rollups keep the same savings (the migration's backfill)", async () => {
    const before = await stats("ticker");
    await h.db
      .sql`UPDATE stats_rollups SET tokens_saved = 0, reuse_cost_saved_usd = 0, cache_cost_saved_usd = 0`;
    await rebuildRollups(h.db.sql);
    expect(await stats("ticker")).toEqual(before);
  });

  it("knows the cache saving of every model, version and tier in the price book", async () => {
    const rows = await h.db.sql<{ version: string; model: string; tier: string; saving: string }[]>`
      SELECT version, model, tier, saving_per_token::text AS saving FROM stats_cache_rates`;
    const stored = new Map(rows.map((r) => [`${r.version}/${r.model}/${r.tier}`, Number(r.saving)]));
    const expected = new Map<string, number>();
    for (const table of PRICE_BOOK) {
      for (const model of Object.keys(table.models)) {
        for (const tier of TOKEN_PRICE_TIERS) {
          const pico = cacheSavingPerToken(model, table.version, tier);
          expected.set(`${table.version}/${model}/${tier}`, pico === null ? Number.NaN : picoToNumber(pico));
        }
      }
    }
    expect(stored).toEqual(expected);
  });
});
