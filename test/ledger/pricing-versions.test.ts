import { describe, expect, it } from "vitest";
import { picoToUsd } from "../../src/ledger/money.js";
import { checkPriceBook, PRICE_BOOK, type PriceBook } from "../../src/ledger/price-table.js";
import { isKnownModel, priceCall } from "../../src/ledger/pricing.js";
import { usageFromMetadata } from "../../src/ledger/usage.js";

const usage = (m: Record<string, number>) => usageFromMetadata(m);
const usd = (cost: { costPico: bigint | null }) => (cost.costPico === null ? null : picoToUsd(cost.costPico));

// Hand-computed figures: every expected value below is worked out in the comment beside it.
describe("priceCall with the shipped price book", () => {
  it("prices thinking at the output rate and cached input at the cache rate, to the sub-micro-dollar", () => {
    // flash-lite: 1,234 prompt (256 cached), 567 candidates + 89 thoughts
    // = 978 × 0.10 + 256 × 0.01 + 656 × 0.40 = 97.8 + 2.56 + 262.4 = 362.76 USD per 1M → 0.00036276
    const cost = priceCall(
      "gemini-2.5-flash-lite",
      usage({
        promptTokenCount: 1234,
        cachedContentTokenCount: 256,
        candidatesTokenCount: 567,
        thoughtsTokenCount: 89,
      }),
      new Date("2026-01-15T12:00:00Z"),
    );
    expect(usd(cost)).toBe("0.00036276");
    expect(cost).toMatchObject({ priceVersion: "gemini-2025-12", priceTier: "standard" });
  });

  it("uses the long-context tier of gemini-3-pro-preview above 200k prompt tokens, cache and thinking included", () => {
    const at = new Date("2026-02-01T00:00:00Z");
    // At 200,000 (not above): 150,000 × 2.00 + 50,000 × 0.20 + (2,000 + 3,000) × 12.00
    // = 300,000 + 10,000 + 60,000 = 370,000 per 1M → 0.37
    const standard = priceCall(
      "gemini-3-pro-preview",
      usage({
        promptTokenCount: 200_000,
        cachedContentTokenCount: 50_000,
        candidatesTokenCount: 2000,
        thoughtsTokenCount: 3000,
      }),
      at,
    );
    expect(usd(standard)).toBe("0.37");
    expect(standard.priceTier).toBe("standard");
    // At 250,000: 200,000 × 4.00 + 50,000 × 0.40 + 5,000 × 18.00 = 800,000 + 20,000 + 90,000 → 0.91
    const long = priceCall(
      "gemini-3-pro-preview",
      usage({
        promptTokenCount: 250_000,
        cachedContentTokenCount: 50_000,
        candidatesTokenCount: 2000,
        thoughtsTokenCount: 3000,
      }),
      at,
    );
    expect(usd(long)).toBe("0.91");
    expect(long.priceTier).toBe("long_context");
  });

  it("counts tool-use prompt tokens as input", () => {
    // 2.5-flash: (900 + 100) × 0.30 + 10 × 2.50 = 300 + 25 = 325 per 1M → 0.000325
    const cost = priceCall(
      "gemini-2.5-flash",
      usage({ promptTokenCount: 900, toolUsePromptTokenCount: 100, candidatesTokenCount: 10 }),
    );
    expect(usd(cost)).toBe("0.000325");
  });

  it("defaults the pricing moment to now", () => {
    const u = usage({ promptTokenCount: 1000, candidatesTokenCount: 100 });
    expect(priceCall("gemini-2.5-flash", u)).toEqual(priceCall("gemini-2.5-flash", u, new Date()));
  });

  it("is a sound book: versions in date order, rates with at most 6 decimals, tiers complete", () => {
    expect(checkPriceBook(PRICE_BOOK)).toEqual([]);
  });
});

describe("priceCall across price versions", () => {
  const book: PriceBook = [
    {
      version: "t-2026-01",
      effectiveFrom: "2026-01-01",
      models: {
        "m-flash": { standard: { input: "0.30", output: "2.50", cachedInput: "0.03" } },
        "m-pro": { standard: { input: "1.25", output: "10.00", cachedInput: "0.125" } },
      },
    },
    {
      version: "t-2026-03",
      effectiveFrom: "2026-03-01T00:00:00Z",
      models: { "m-flash": { standard: { input: "0.20", output: "2.00", cachedInput: "0.02" } } },
    },
  ];
  // 10,000 prompt (2,000 cached), 1,000 candidates + 1,000 thoughts.
  const u = usage({
    promptTokenCount: 10_000,
    cachedContentTokenCount: 2000,
    candidatesTokenCount: 1000,
    thoughtsTokenCount: 1000,
  });

  it("prices a call by the rate in force when it started, switching exactly on the effective date", () => {
    // Old rate: 8,000 × 0.30 + 2,000 × 0.03 + 2,000 × 2.50 = 2,400 + 60 + 5,000 = 7,460 → 0.00746
    const before = priceCall("m-flash", u, new Date("2026-02-28T23:59:59.999Z"), book);
    expect(before).toMatchObject({ priceVersion: "t-2026-01" });
    expect(usd(before)).toBe("0.00746");
    // New rate: 8,000 × 0.20 + 2,000 × 0.02 + 2,000 × 2.00 = 1,600 + 40 + 4,000 = 5,640 → 0.00564
    const on = priceCall("m-flash", u, new Date("2026-03-01T00:00:00.000Z"), book);
    expect(on).toMatchObject({ priceVersion: "t-2026-03" });
    expect(usd(on)).toBe("0.00564");
  });

  it("keeps a model's last listed rate when a newer version does not mention it", () => {
    // 8,000 × 1.25 + 2,000 × 0.125 + 2,000 × 10 = 10,000 + 250 + 20,000 = 30,250 → 0.03025
    const cost = priceCall("m-pro", u, new Date("2026-06-01T00:00:00Z"), book);
    expect(cost).toMatchObject({ priceVersion: "t-2026-01" });
    expect(usd(cost)).toBe("0.03025");
  });

  it("prices a call older than the first version by the first version", () => {
    const cost = priceCall("m-flash", u, new Date("2025-06-01T00:00:00Z"), book);
    expect(cost).toMatchObject({ priceVersion: "t-2026-01" });
    expect(usd(cost)).toBe("0.00746");
  });

  it("resolves dated variants by prefix in any version, and leaves unknown models unpriced", () => {
    expect(usd(priceCall("m-flash-001", u, new Date("2026-03-02T00:00:00Z"), book))).toBe("0.00564");
    expect(isKnownModel("m-pro-exp-0827", new Date(), book)).toBe(true);
    expect(priceCall("m-ultra", u, new Date(), book)).toEqual({
      costPico: null,
      priceVersion: null,
      priceTier: null,
    });
  });

  it("flags a book that would misprice", () => {
    const bad: PriceBook = [
      {
        version: "t-2026-03",
        effectiveFrom: "2026-03-01",
        models: { x: { standard: { input: "0.1234567", output: "1", cachedInput: "0" } } },
      },
      {
        version: "t-2026-01",
        effectiveFrom: "2026-01-01",
        models: { y: { standard: { input: "1", output: "1", cachedInput: "1" }, longContextThreshold: 5 } },
      },
    ];
    expect(checkPriceBook(bad)).toEqual([
      "t-2026-03 x: rate 0.1234567 needs ≤ 6 decimals",
      "t-2026-01: effectiveFrom is not after the previous version",
      "t-2026-01 y: longContext and longContextThreshold go together",
    ]);
  });
});
