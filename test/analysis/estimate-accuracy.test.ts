import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateAnalysis } from "../../src/analysis/estimate.js";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { loadConfig } from "../../src/config/config.js";
import { logger } from "../../src/logger.js";
import { createPriceProvider } from "../../src/market/create-provider.js";
import { importPriceBars } from "../../src/store/price-bars-repo.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { barsFromCloses } from "../market/fixtures.js";

/**
 * `analyze --estimate` predicts the run: the same market data (imported wins over samples),
 * the same prompts and charts, text counted by countTokens, answers from the stage history.
 */

let h: PipelineHarness;
const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "MSFT", "AAPL", "ACME"];

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
  // The run's own provider chain: imported bars, then the samples.
  h.deps.prices = createPriceProvider({ sql: h.db.sql, logger, market: loadConfig({}).market });
  // An imported ticker with no sample behind it: 260 sessions of a gentle up-trend.
  const closes = Array.from({ length: 260 }, (_, i) => 100 + i * 0.4 + Math.sin(i / 5) * 3);
  await importPriceBars(h.db.sql, new Map([["ACME", barsFromCloses(closes)]]), { currency: "USD" });
});
afterAll(() => h.close());

describe("analyze --estimate", () => {
  it("without history, answers are priced at the stage bounds: never below the run", async () => {
    const estimate = await estimateAnalysis(
      { ticker: "TCS", model: "gemini-2.5-flash" },
      { ...h.deps, charts: true },
    );
    expect(estimate?.stages.every((s) => s.outputBasis === "bounds")).toBe(true);
    const row = await executeAnalysis(await h.queue("TCS"), h.deps);
    expect(estimate?.totalTokens).toBeGreaterThan(Number(row?.total_tokens));
  });

  it("for every sample ticker and an imported one, the estimate's total is within 5% of the run's", async () => {
    // History: one earlier run of each ticker.
    for (const ticker of TICKERS) await executeAnalysis(await h.queue(ticker), h.deps);
    for (const ticker of TICKERS) {
      const estimate = await estimateAnalysis(
        { ticker, model: "gemini-2.5-flash" },
        { ...h.deps, charts: true },
      );
      expect(estimate, ticker).not.toBeNull();
      if (!estimate) continue;
      expect(estimate.stages.every((s) => s.outputBasis === "history")).toBe(true);
      if (ticker === "ACME") expect(estimate.marketDataSource).toMatch(/import/i);
      // The four chart-reading stages' images are counted.
      expect(estimate.stages.filter((s) => s.imageTokens > 0)).toHaveLength(4);
      const row = await executeAnalysis(await h.queue(ticker), h.deps);
      expect(row?.status).toBe("completed");
      const actual = Number(row?.total_tokens);
      const error = Math.abs(estimate.totalTokens - actual) / actual;
      expect(error, `${ticker}: estimated ${estimate.totalTokens}, ran ${actual}`).toBeLessThanOrEqual(0.05);
      // Each stage's prompt is counted exactly as the provider then billed it.
      const calls = await h.db.sql<{ call_type: string; input_tokens: number }[]>`
        SELECT call_type, input_tokens FROM llm_calls WHERE analysis_id = ${row?.id ?? ""} AND status = 'success'`;
      for (const call of calls.filter((c) => c.call_type !== "final_decision")) {
        expect(estimate.stages.find((s) => s.callType === call.call_type)?.inputTokens, call.call_type).toBe(
          call.input_tokens,
        );
      }
      // Money as exact decimal strings.
      expect(estimate.costUsd).toMatch(/^\d+\.\d+$/);
    }
  });
});
