import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { renderSummary } from "../../src/cli/render.js";
import { listCalls } from "../../src/store/calls-repo.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

let h: PipelineHarness;

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
});
afterAll(() => h.close());

const CHART_STAGES = [
  "comprehensive_overview",
  "volume_analysis",
  "reversal_patterns",
  "continuation_levels",
];

describe("charts shown to the stages", () => {
  it("sends one PNG to each chart-reading stage and records per-modality tokens exactly as the server returned", async () => {
    const id = await h.queue("AAPL");
    const row = await executeAnalysis(id, h.deps);
    expect(row?.status).toBe("completed");
    const calls = await listCalls(h.db.sql, id);
    const served = h.emulator
      .requestLog()
      .filter((e) => e.analysisId === id && e.method === "generateContent");
    for (const call of calls) {
      const entry = served.find((e) => e.callType === call.call_type && e.attempt === call.attempt);
      const usage = entry?.usageMetadata as {
        promptTokensDetails?: { modality: string; tokenCount: number }[];
      };
      const fromServer = Object.fromEntries(
        (usage.promptTokensDetails ?? []).map((d) => [d.modality, d.tokenCount]),
      );
      expect(call.modality_tokens.input).toEqual(fromServer);
      if (CHART_STAGES.includes(call.call_type)) expect(call.modality_tokens.input.IMAGE).toBeGreaterThan(0);
      else expect(call.modality_tokens.input.IMAGE).toBeUndefined();
    }
    const breakdown = row?.token_usage_breakdown ?? {};
    for (const stage of CHART_STAGES) {
      const call = calls.find((c) => c.call_type === stage);
      expect(breakdown[stage]?.modality_tokens.input.IMAGE).toBe(call?.modality_tokens.input.IMAGE);
    }
    expect(row?.data_hash).toMatch(/^[0-9a-f]{64}$/);
    const summary = row ? renderSummary(row) : "";
    expect(summary).toMatch(/ {2}Modality Tokens: input TEXT [\d,]+, IMAGE [\d,]+; output TEXT [\d,]+\n/);
    expect(summary).toMatch(
      / {2}volume_analysis:[\s\S]*? {4}Modality Tokens: input TEXT [\d,]+, IMAGE [\d,]+/,
    );
    await expectTotalsMatchCalls(h.db.sql, id);
  });
});
