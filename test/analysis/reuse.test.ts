import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { stageInputHash } from "../../src/analysis/input-hash.js";
import { SYSTEM_INSTRUCTION } from "../../src/analysis/prompts.js";
import { ANALYSIS_STAGES } from "../../src/analysis/stages.js";
import { renderSummary } from "../../src/cli/render.js";
import { CALL_TYPES } from "../../src/ledger/call-record.js";
import type { PriceProvider, PriceSeries } from "../../src/market/types.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

let h: PipelineHarness;

beforeAll(async () => {
  h = await createPipelineHarness();
});
afterAll(() => h.close());

async function analyse(ticker: string, options: { reuse: boolean; prices?: PriceProvider }) {
  const id = await h.queue(ticker);
  await h.db.sql`UPDATE stock_analyses SET reuse = ${options.reuse} WHERE id = ${id}`;
  const row = (await executeAnalysis(id, {
    ...h.deps,
    prices: options.prices ?? h.deps.prices,
  })) as AnalysisRow;
  const requests = h.emulator
    .requestLog()
    .filter((e) => e.analysisId === id && e.method === "generateContent");
  return { id, row, requests };
}

describe("stage reuse", () => {
  let original: Awaited<ReturnType<typeof analyse>>;

  it("a second analysis of unchanged data makes no LLM request and shows what it saved", async () => {
    original = await analyse("RELIANCE", { reuse: false });
    const again = await analyse("RELIANCE", { reuse: true });
    expect(again.requests).toEqual([]);
    expect(again.row).toMatchObject({
      status: "completed",
      llm_calls_count: 0,
      total_tokens: 0,
      tokens_saved: original.row.total_tokens,
    });
    expect(Number(again.row.cost_saved_usd)).toBe(Number(original.row.cost_usd));
    expect(again.row.decision).toEqual(original.row.decision);
    for (const callType of CALL_TYPES) {
      expect(again.row.token_usage_breakdown[callType]).toMatchObject({
        calls: 0,
        reused_from: original.id,
        tokens_saved: original.row.token_usage_breakdown[callType]?.total_tokens,
      });
    }
    await expectTotalsMatchCalls(h.db.sql, again.id);
    const summary = renderSummary(again.row);
    expect(summary).toContain(
      `  Tokens Saved by Reuse: ${original.row.total_tokens.toLocaleString("en-US")}`,
    );
    expect(summary).toMatch(/ {2}Cost Saved by Reuse: \$0\.\d{6}\n/);
    expect(summary).toContain(`    Reused From: ${original.id} (saved `);
  });

  it("does not reuse without --reuse", async () => {
    const fresh = await analyse("RELIANCE", { reuse: false });
    expect(fresh.requests).toHaveLength(6);
    expect(fresh.row.tokens_saved).toBe(0);
  });

  it("does not reuse when the prices changed", async () => {
    const shifted: PriceProvider = {
      async load(ticker) {
        const series = (await h.deps.prices.load(ticker)) as PriceSeries;
        const bars = series.bars.map((b, i) =>
          i === series.bars.length - 1 ? { ...b, close: Math.min(b.high, b.close + 0.01) } : b,
        );
        return { ...series, bars };
      },
    };
    const changed = await analyse("TCS", { reuse: false });
    const after = await analyse("TCS", { reuse: true, prices: shifted });
    expect(changed.requests).toHaveLength(6);
    expect(after.requests).toHaveLength(6);
    expect(after.row.tokens_saved).toBe(0);
  });

  it("does not reuse an answer to an older prompt version", async () => {
    const first = await analyse("INFY", { reuse: false });
    // What an earlier release (prompt v0) would have stored for the same data.
    const calls = await h.db.sql`SELECT call_type, output FROM llm_calls WHERE analysis_id = ${first.id}`;
    for (const call of calls) {
      await h.db.sql`UPDATE llm_calls SET input_hash = ${`v0-${call.call_type}`}
        WHERE analysis_id = ${first.id} AND call_type = ${call.call_type}`;
    }
    const later = await analyse("INFY", { reuse: true });
    expect(later.requests).toHaveLength(6);
    const stage = ANALYSIS_STAGES[0];
    if (!stage) throw new Error("no stages");
    expect(stageInputHash("m", stage, SYSTEM_INSTRUCTION, "p")).not.toBe(
      stageInputHash("m", { ...stage, promptVersion: "v0" }, SYSTEM_INSTRUCTION, "p"),
    );
  });

  it("does not reuse answers older than the TTL", async () => {
    const old = await analyse("HDFCBANK", { reuse: false });
    await h.db
      .sql`UPDATE llm_calls SET started_at = now() - interval '2 hours' WHERE analysis_id = ${old.id}`;
    const later = await analyse("HDFCBANK", { reuse: true }); // harness TTL: 1 hour
    expect(later.requests).toHaveLength(6);
    const within = await analyse("HDFCBANK", { reuse: true });
    expect(within.requests).toEqual([]);
    expect(within.row.token_usage_breakdown.final_decision?.reused_from).toBe(later.id);
  });
});
