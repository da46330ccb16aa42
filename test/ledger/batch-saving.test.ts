import { describe, expect, it } from "vitest";
import { batchSavingPico, rateCardOfTier } from "../../src/ledger/batch-saving.js";
import { picoToUsd } from "../../src/ledger/money.js";
import { PRICE_BOOK, type PriceBook, resolvePrice } from "../../src/ledger/price-table.js";
import { TokenTracker } from "../../src/ledger/token-tracker.js";
import { usageFromMetadata } from "../../src/ledger/usage.js";
import { callRecord } from "../helpers/call-records.js";

const AT = new Date("2026-11-25T10:00:00Z");
const usage = (m: Record<string, number>) => usageFromMetadata(m);
const saving = (model: string, m: Record<string, number>, book: PriceBook = PRICE_BOOK) => {
  const pico = batchSavingPico(model, usage(m), AT, book);
  return pico === null ? null : picoToUsd(pico);
};

describe("batchSavingPico", () => {
  it("is the standard-rate cost less the batch-rate cost, cached input at its (equal) rate", () => {
    // gemini-2.5-flash, 10,000 prompt (4,000 cached), 1,000 + 500 thinking out:
    // standard 6000 × 0.30 + 4000 × 0.03 + 1500 × 2.50 = 5670 µ$; batch 6000 × 0.15 + 4000 × 0.03 + 1500 × 1.25 = 2895 µ$.
    expect(
      saving("gemini-2.5-flash", {
        promptTokenCount: 10_000,
        cachedContentTokenCount: 4000,
        candidatesTokenCount: 1000,
        thoughtsTokenCount: 500,
      }),
    ).toBe("0.002775");
  });

  it("compares long-context batch rates with long-context standard rates above 200k prompt tokens", () => {
    // gemini-2.5-pro: 250,000 prompt (50,000 cached), 1,000 out.
    // long 200000 × 2.50 + 50000 × 0.25 + 1000 × 15 = 527500 µ$; batch long 200000 × 1.25 + 50000 × 0.25 + 1000 × 7.5 = 270000 µ$.
    expect(
      saving("gemini-2.5-pro", {
        promptTokenCount: 250_000,
        cachedContentTokenCount: 50_000,
        candidatesTokenCount: 1000,
      }),
    ).toBe("0.2575");
  });

  it("halves input and output of a book entry without batch rates, and keeps its cache rate", () => {
    const book: PriceBook = [
      {
        version: "acme-1",
        effectiveFrom: "2026-01-01",
        models: { "acme-lm": { standard: { input: "0.30", output: "2.50", cachedInput: "0.03" } } },
      },
    ];
    // (6000 × 0.15 + 1500 × 1.25) µ$ saved; the 4000 cached tokens cost the same either way.
    expect(
      saving(
        "acme-lm",
        { promptTokenCount: 10_000, cachedContentTokenCount: 4000, candidatesTokenCount: 1500 },
        book,
      ),
    ).toBe("0.002775");
    const price = resolvePrice("acme-lm", AT, book)?.price;
    expect(price && rateCardOfTier(price, "batch")).toEqual({
      input: "0.15",
      output: "1.25",
      cachedInput: "0.03",
    });
  });

  it("is null for a model with no known price", () => {
    expect(saving("mystery-model", { promptTokenCount: 100 })).toBeNull();
  });
});

describe("rateCardOfTier", () => {
  const pro = resolvePrice("gemini-2.5-pro", AT)?.price;
  const flash = resolvePrice("gemini-2.5-flash", AT)?.price;

  it("reads each stored tier's card; a model without long-context rates repeats its short ones", () => {
    if (!pro || !flash) throw new Error("shipped models missing");
    expect(rateCardOfTier(pro, "standard")).toBe(pro.standard);
    expect(rateCardOfTier(pro, "long_context")).toBe(pro.longContext);
    expect(rateCardOfTier(pro, "batch")).toBe(pro.batch);
    expect(rateCardOfTier(pro, "batch_long_context")).toBe(pro.batchLongContext);
    expect(rateCardOfTier(flash, "long_context")).toBe(flash.standard);
    expect(rateCardOfTier(flash, "batch_long_context")).toBe(flash.batch);
    expect(rateCardOfTier(flash, null)).toBe(flash.standard);
  });
});

describe("TokenTracker batch totals", () => {
  it("counts batch calls and their savings, and a replaced attempt replaces its saving", () => {
    const tracker = new TokenTracker("an-b", "TCS", "gemini-2.5-flash");
    const batchCall = (attempt: number, saved: bigint | null) =>
      callRecord({
        callType: "indicator_summary",
        attempt,
        metadata: { promptTokenCount: 100, candidatesTokenCount: 10 },
        serviceTier: "batch",
        batchSavedPico: saved,
      });
    tracker.recordCall(batchCall(1, 5_000_000n));
    tracker.recordCall(batchCall(2, null));
    tracker.recordCall(
      callRecord({ callType: "final_decision", attempt: 1, metadata: { promptTokenCount: 5 } }),
    );
    expect(tracker.totals()).toMatchObject({ calls: 3, batchCalls: 2, batchSavedPico: 5_000_000n });
    tracker.recordCall(batchCall(1, 7_000_000n));
    expect(tracker.totals()).toMatchObject({ calls: 3, batchCalls: 2, batchSavedPico: 7_000_000n });
    const breakdown = tracker.breakdown();
    expect(breakdown.indicator_summary).toMatchObject({ batch_calls: 2, batch_saved_usd: 0.000007 });
    expect(breakdown.final_decision).not.toHaveProperty("batch_calls");
  });
});
