import { describe, expect, it } from "vitest";
import { picoToUsd } from "../../src/ledger/money.js";
import { TokenTracker } from "../../src/ledger/token-tracker.js";
import { TrackerAlreadyExistsError, TrackerRegistry } from "../../src/ledger/tracker-registry.js";
import { ZERO_USAGE } from "../../src/ledger/usage.js";
import { callRecord } from "../helpers/call-records.js";

const meta = (prompt: number, candidates: number, thoughts = 0, cached = 0) => ({
  promptTokenCount: prompt,
  candidatesTokenCount: candidates,
  thoughtsTokenCount: thoughts,
  cachedContentTokenCount: cached,
  totalTokenCount: prompt + candidates + thoughts,
});

describe("TokenTracker", () => {
  it("sums calls per call type and overall, failures included", () => {
    const tracker = new TokenTracker("an_1", "RELIANCE", "gemini-2.5-flash");
    tracker.recordCall(
      callRecord({
        callType: "indicator_summary",
        attempt: 1,
        status: "failure",
        usage: ZERO_USAGE,
        errorType: "rate_limited",
        errorMessage: "HTTP 429: quota",
      }),
    );
    tracker.recordCall(
      callRecord({ callType: "indicator_summary", attempt: 2, metadata: meta(1000, 300, 100) }),
    );
    tracker.recordCall(
      callRecord({ callType: "final_decision", attempt: 1, metadata: meta(2000, 200, 50, 1024) }),
    );

    const totals = tracker.totals();
    expect(totals).toMatchObject({
      calls: 3,
      successfulCalls: 2,
      failedCalls: 1,
      inputTokens: 3000,
      outputTokens: 650,
      thinkingTokens: 150,
      cachedInputTokens: 1024,
      totalTokens: 3650,
      durationMs: 300,
    });
    const breakdown = tracker.breakdown();
    expect(Object.keys(breakdown)).toEqual(["indicator_summary", "final_decision"]);
    expect(breakdown.indicator_summary).toMatchObject({
      calls: 2,
      successful_calls: 1,
      failed_calls: 1,
      input_tokens: 1000,
      output_tokens: 400,
      thinking_tokens: 100,
      total_tokens: 1400,
      errors: [{ attempt: 1, type: "rate_limited", message: "HTTP 429: quota" }],
    });
    // 1000 × 0.30 + 400 × 2.50 = 1300 µ$; 976 × 0.30 + 1024 × 0.03 + 250 × 2.50 = 948.52 µ$
    expect(breakdown.indicator_summary?.cost_usd).toBe(0.0013);
    expect(picoToUsd(totals.costPico ?? -1n)).toBe("0.00224852");
  });

  it("recording the same attempt twice replaces it: no token counted twice", () => {
    const tracker = new TokenTracker("an_2", "TCS", "gemini-2.5-flash");
    const interrupted = callRecord({
      callType: "volume_analysis",
      attempt: 1,
      status: "interrupted",
      usage: ZERO_USAGE,
    });
    tracker.recordCall(interrupted);
    const finished = callRecord({ callType: "volume_analysis", attempt: 1, metadata: meta(500, 100) });
    tracker.recordCall(finished);
    tracker.recordCall(finished);
    expect(tracker.totals()).toMatchObject({
      calls: 1,
      successfulCalls: 1,
      failedCalls: 0,
      totalTokens: 600,
    });
    expect(tracker.calls()).toHaveLength(1);
  });

  it("keeps calls in the order first recorded, a replaced attempt in its place", () => {
    const tracker = new TokenTracker("an_order", "TCS", "gemini-2.5-flash");
    const record = (callType: string, attempt: number, prompt: number) =>
      callRecord({ callType, attempt, metadata: meta(prompt, 10) });
    tracker.recordCall(record("volume_analysis", 1, 100));
    tracker.recordCall(record("indicator_summary", 1, 200));
    tracker.recordCall(record("volume_analysis", 2, 300));
    tracker.recordCall(record("volume_analysis", 1, 400));
    expect(tracker.calls().map((c) => [c.callType, c.attempt, c.usage.inputTokens])).toEqual([
      ["volume_analysis", 1, 400],
      ["indicator_summary", 1, 200],
      ["volume_analysis", 2, 300],
    ]);
    expect(tracker.totalsFor("volume_analysis")).toMatchObject({ calls: 2, inputTokens: 700 });
    expect(tracker.totals()).toMatchObject({ calls: 3, inputTokens: 900 });
  });

  it("makes the cost unknown while an unpriced call is in, and recovers when it is replaced", () => {
    const tracker = new TokenTracker("an_3", "INFY", "mystery-model");
    tracker.recordCall(
      callRecord({ callType: "final_decision", attempt: 1, model: "mystery-model", metadata: meta(10, 10) }),
    );
    expect(tracker.totals().costPico).toBeNull();
    expect(tracker.breakdown().final_decision?.cost_usd).toBeNull();
    tracker.recordCall(callRecord({ callType: "final_decision", attempt: 1, metadata: meta(10, 10) }));
    expect(tracker.totals().costPico).not.toBeNull();
  });
});

describe("TrackerRegistry", () => {
  it("refuses a live duplicate, releases on success and on failure", async () => {
    const registry = new TrackerRegistry();
    const tracker = registry.create("an_a", "RELIANCE", "gemini-2.5-flash");
    expect(registry.get("an_a")).toBe(tracker);
    expect(() => registry.create("an_a", "RELIANCE", "gemini-2.5-flash")).toThrow(TrackerAlreadyExistsError);
    expect(registry.release("an_a")).toBe(true);
    expect(registry.size).toBe(0);

    await registry.withTracker({ analysisId: "an_b", ticker: "TCS", model: "m" }, async () => {
      expect(registry.size).toBe(1);
    });
    await expect(
      registry.withTracker({ analysisId: "an_c", ticker: "TCS", model: "m" }, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(registry.size).toBe(0);
  });

  it("keeps concurrent analyses apart", async () => {
    const registry = new TrackerRegistry();
    const ids = Array.from({ length: 50 }, (_, i) => `an_${i}`);
    await Promise.all(
      ids.map((id, i) =>
        registry.withTracker({ analysisId: id, ticker: "T", model: "gemini-2.5-flash" }, async (tracker) => {
          for (let attempt = 1; attempt <= 3; attempt++) {
            await new Promise((r) => setTimeout(r, (i * 7 + attempt) % 5));
            tracker.recordCall(
              callRecord({ callType: "indicator_summary", attempt, metadata: meta(i + 1, attempt) }),
            );
          }
          expect(tracker.totals().inputTokens).toBe(3 * (i + 1));
          expect(tracker.totals().outputTokens).toBe(6);
        }),
      ),
    );
    expect(registry.size).toBe(0);
  });
});
