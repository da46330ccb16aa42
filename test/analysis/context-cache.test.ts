import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { listCalls } from "../../src/store/calls-repo.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

let h: PipelineHarness;

beforeAll(async () => {
  h = await createPipelineHarness();
});
afterAll(() => h.close());
beforeEach(() => h.emulator.setFaults([]));

async function analyseWithCache(ticker: string) {
  const id = await h.queue(ticker);
  await h.db.sql`UPDATE stock_analyses SET context_cache = true WHERE id = ${id}`;
  const row = await executeAnalysis(id, h.deps);
  return { id, row, calls: await listCalls(h.db.sql, id) };
}

const STAGES = [
  "indicator_summary",
  "comprehensive_overview",
  "volume_analysis",
  "reversal_patterns",
  "continuation_levels",
];

describe("--context-cache", () => {
  it("caches the shared prefix for every stage, records creation and storage, and deletes the cache", async () => {
    const { id, row, calls } = await analyseWithCache("RELIANCE");
    expect(row?.status).toBe("completed");
    const create = calls.find((c) => c.call_type === "context_cache_create");
    const storage = calls.find((c) => c.call_type === "context_cache_storage");
    expect(create).toMatchObject({ status: "success", usage_source: "provider", output_tokens: 0 });
    const cachedTokens = create?.input_tokens ?? 0;
    expect(cachedTokens).toBeGreaterThanOrEqual(1024);
    expect(Number(create?.cost_usd)).toBeGreaterThan(0);
    expect(storage).toMatchObject({ status: "success", total_tokens: 0, price_tier: "cache_storage" });
    expect(Number(storage?.cost_usd)).toBeGreaterThan(0);

    const stageCalls = calls.filter((c) => STAGES.includes(c.call_type));
    expect(stageCalls).toHaveLength(5);
    for (const c of stageCalls) expect(c.cached_input_tokens).toBe(cachedTokens);
    const input = stageCalls.reduce((sum, c) => sum + c.input_tokens, 0);
    const cached = stageCalls.reduce((sum, c) => sum + c.cached_input_tokens, 0);
    expect(cached / input).toBeGreaterThanOrEqual(0.6);
    expect(calls.find((c) => c.call_type === "final_decision")?.cached_input_tokens).toBe(cachedTokens);

    const log = h.emulator.requestLog();
    expect(log.filter((e) => e.method === "createCachedContent")).toHaveLength(1);
    const generates = log.filter((e) => e.analysisId === id && e.method === "generateContent");
    expect(generates.every((e) => e.cachedContent?.startsWith("cachedContents/"))).toBe(true);
    expect(h.emulator.cachedContents().every((c) => c.deleted)).toBe(true);
    expect(row?.token_usage_breakdown.context_cache_create).toMatchObject({
      calls: 1,
      input_tokens: cachedTokens,
    });
    await expectTotalsMatchCalls(h.db.sql, id);
  });

  it("goes on without the cache when it cannot be created, with the failed creation recorded", async () => {
    h.emulator.setFaults([{ kind: "server_error", method: "createCachedContent" }]);
    const { id, row, calls } = await analyseWithCache("TCS");
    expect(row?.status).toBe("completed");
    expect(calls.find((c) => c.call_type === "context_cache_create")).toMatchObject({
      status: "failure",
      error_type: "server_error",
      input_tokens: 0,
    });
    expect(calls.some((c) => c.call_type === "context_cache_storage")).toBe(false);
    expect(calls.filter((c) => STAGES.includes(c.call_type))).toHaveLength(5);
    await expectTotalsMatchCalls(h.db.sql, id);
  });
});
