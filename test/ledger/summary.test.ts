import { describe, expect, it } from "vitest";
import { formatSummary, type SummaryInput } from "../../src/ledger/summary.js";
import { type BreakdownEntry, emptyBreakdownEntry } from "../../src/ledger/token-tracker.js";

const entry = (overrides: Partial<BreakdownEntry>): BreakdownEntry => ({
  ...emptyBreakdownEntry(),
  calls: 1,
  successful_calls: 1,
  ...overrides,
});

const input: SummaryInput = {
  id: "an_demo1",
  ticker: "RELIANCE",
  status: "completed",
  model: "gemini-2.5-flash",
  durationMs: 5330,
  llmCallsCount: 7,
  failedCallsCount: 1,
  totalInputTokens: 5300,
  totalOutputTokens: 3000,
  thinkingTokens: 640,
  cachedInputTokens: 0,
  totalTokens: 8300,
  costUsd: "0.00909",
  breakdown: {
    final_decision: entry({
      input_tokens: 3800,
      output_tokens: 2200,
      total_tokens: 6000,
      duration_ms: 2100,
      cost_usd: 0.00664,
    }),
    indicator_summary: entry({
      calls: 2,
      failed_calls: 1,
      input_tokens: 1500,
      output_tokens: 800,
      thinking_tokens: 120,
      total_tokens: 2300,
      duration_ms: 912,
      cost_usd: 0.00245,
      errors: [{ attempt: 1, type: "rate_limited", message: "HTTP 429:\n quota exceeded" }],
    }),
  },
};

describe("formatSummary", () => {
  it("prints the seed's format with the extensions", () => {
    expect(formatSummary(input)).toBe(
      [
        "📊 Token Usage Summary for RELIANCE",
        "==================================================",
        "Analysis ID: an_demo1",
        "Status: completed",
        "Model: gemini-2.5-flash",
        "Duration: 5.33 seconds",
        "Total LLM Calls: 7",
        "Successful Calls: 6",
        "Failed Calls: 1",
        "",
        "Token Usage:",
        "  Input Tokens: 5,300",
        "  Output Tokens: 3,000",
        "  Thinking Tokens: 640",
        "  Cached Input Tokens: 0",
        "  Total Tokens: 8,300",
        "  Cost: $0.009090",
        "",
        "Breakdown by Call Type:",
        "  indicator_summary:",
        "    Calls: 2",
        "    Input Tokens: 1,500",
        "    Output Tokens: 800",
        "    Thinking Tokens: 120",
        "    Cached Input Tokens: 0",
        "    Total Tokens: 2,300",
        "    Duration: 0.91 seconds",
        "    Cost: $0.002450",
        "    Success Rate: 1/2",
        "    Errors: rate_limited (attempt 1): HTTP 429: quota exceeded",
        "  final_decision:",
        "    Calls: 1",
        "    Input Tokens: 3,800",
        "    Output Tokens: 2,200",
        "    Thinking Tokens: 0",
        "    Cached Input Tokens: 0",
        "    Total Tokens: 6,000",
        "    Duration: 2.10 seconds",
        "    Cost: $0.006640",
        "    Success Rate: 1/1",
      ].join("\n"),
    );
  });

  it("says when the cost is unknown and shows the error and decision", () => {
    const text = formatSummary({
      ...input,
      costUsd: null,
      error: "stages failed: volume_analysis",
      decision: { action: "BUY", confidence: 0.7, entry: 100, target: 110, stop_loss: 95 },
    });
    expect(text).toContain("  Cost: unknown (model has no known price)");
    expect(text).toContain("Decision: BUY (confidence 0.70) entry 100 target 110 stop loss 95");
    expect(text).toContain("Error: stages failed: volume_analysis");
  });

  it("shows what batch mode saved beside the cost, and each stage's service tier", () => {
    const batched = {
      ...input,
      batch: true,
      batchSavedUsd: "0.0012345",
      breakdown: {
        ...input.breakdown,
        indicator_summary: {
          ...input.breakdown.indicator_summary,
          batch_calls: 1,
          batch_saved_usd: 0.000617,
        },
        final_decision: { ...input.breakdown.final_decision, batch_calls: 1, batch_saved_usd: 0.0006175 },
      } as Record<string, BreakdownEntry>,
    };
    const lines = formatSummary(batched).split("\n");
    expect(lines.slice(lines.indexOf("  Cost: $0.009090"), lines.indexOf("Breakdown by Call Type:"))).toEqual(
      ["  Cost: $0.009090", "  Cost Saved by Batch Mode: $0.001235", ""],
    );
    expect(lines).toContain("    Service Tier: batch 1, standard 1 (saved $0.000617)");
    expect(lines).toContain("    Service Tier: batch (saved $0.000618)");
    // Still waiting for its batch: nothing is summed yet.
    expect(formatSummary({ ...batched, status: "running", batchSavedUsd: "0" })).toContain(
      "  Cost Saved by Batch Mode: n/a (analysis not finished)",
    );
    // A standard analysis prints neither line.
    expect(formatSummary(input)).not.toMatch(/Batch|Service Tier/);
  });
});
