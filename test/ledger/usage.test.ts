import { describe, expect, it } from "vitest";
import { estimateUsage, normalizeUsage, usageFromMetadata } from "../../src/ledger/usage.js";

describe("usageFromMetadata (DESIGN §3)", () => {
  it("maps thinking, cached and tool-use prompt tokens", () => {
    const usage = usageFromMetadata({
      promptTokenCount: 1200,
      toolUsePromptTokenCount: 30,
      cachedContentTokenCount: 1024,
      candidatesTokenCount: 400,
      thoughtsTokenCount: 150,
      totalTokenCount: 1780,
      promptTokensDetails: [
        { modality: "TEXT", tokenCount: 942 },
        { modality: "IMAGE", tokenCount: 258 },
      ],
      candidatesTokensDetails: [{ modality: "TEXT", tokenCount: 400 }],
    });
    expect(usage).toEqual({
      inputTokens: 1230,
      cachedInputTokens: 1024,
      outputTokens: 550,
      thinkingTokens: 150,
      totalTokens: 1780,
      usageSource: "provider",
      modalityTokens: { input: { TEXT: 942, IMAGE: 258 }, output: { TEXT: 400 } },
      totalMismatch: false,
    });
  });

  it("counts missing fields as 0 and derives the total when absent", () => {
    const usage = usageFromMetadata({ promptTokenCount: 10 });
    expect(usage).toMatchObject({ inputTokens: 10, outputTokens: 0, thinkingTokens: 0, totalTokens: 10 });
    expect(usage.totalMismatch).toBe(false);
  });

  it("keeps the provider's total and flags a mismatch", () => {
    const usage = usageFromMetadata({ promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 99 });
    expect(usage.totalTokens).toBe(99);
    expect(usage.totalMismatch).toBe(true);
  });

  it("ignores negative, fractional and non-numeric garbage", () => {
    const usage = usageFromMetadata({
      promptTokenCount: -5,
      candidatesTokenCount: "7",
      thoughtsTokenCount: 2.9,
    });
    expect(usage).toMatchObject({ inputTokens: 0, outputTokens: 2, thinkingTokens: 2 });
  });
});

describe("normalizeUsage", () => {
  it("estimates a received response without usageMetadata, never 0", () => {
    const usage = normalizeUsage(undefined, { received: true, inputChars: 4001, outputChars: 800 });
    expect(usage).toMatchObject({
      usageSource: "estimated",
      inputTokens: 1001,
      outputTokens: 200,
      totalTokens: 1201,
    });
    expect(estimateUsage(0, 0).totalTokens).toBe(0);
  });

  it("records nothing for a call that got no response", () => {
    const usage = normalizeUsage(undefined, { received: false, inputChars: 4000, outputChars: 0 });
    expect(usage).toMatchObject({ usageSource: "none", totalTokens: 0 });
  });
});
