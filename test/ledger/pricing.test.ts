import { describe, expect, it } from "vitest";
import { formatUsd, picoToUsd, usdToPico } from "../../src/ledger/money.js";
import { isKnownModel, priceCall } from "../../src/ledger/pricing.js";
import { usageFromMetadata } from "../../src/ledger/usage.js";

const usage = (m: Record<string, number>) => usageFromMetadata(m);

describe("money", () => {
  it("round-trips exact decimals", () => {
    expect(picoToUsd(usdToPico("0.000123456789"))).toBe("0.000123456789");
    expect(picoToUsd(usdToPico("12.5"))).toBe("12.5");
    expect(picoToUsd(0n)).toBe("0");
    expect(formatUsd(usdToPico("0.0090904"))).toBe("$0.009090");
    expect(formatUsd(usdToPico("0.0000005"))).toBe("$0.000001");
  });
});

describe("priceCall", () => {
  it("prices gemini-2.5-flash with thinking at the output rate and cached input at its rate", () => {
    // 10,000 prompt tokens of which 4,096 cached; 1,000 candidates + 500 thoughts.
    const cost = priceCall(
      "gemini-2.5-flash",
      usage({
        promptTokenCount: 10_000,
        cachedContentTokenCount: 4096,
        candidatesTokenCount: 1000,
        thoughtsTokenCount: 500,
      }),
    );
    // (10000-4096) × 0.30/1M + 4096 × 0.03/1M + 1500 × 2.50/1M = 0.0017712 + 0.00012288 + 0.00375
    expect(picoToUsd(cost.costPico ?? -1n)).toBe("0.00564408");
    expect(cost).toMatchObject({ priceVersion: "gemini-2025-12", priceTier: "standard" });
  });

  it("switches gemini-2.5-pro to long-context rates above 200k prompt tokens", () => {
    const at = priceCall("gemini-2.5-pro", usage({ promptTokenCount: 200_000, candidatesTokenCount: 1000 }));
    expect(picoToUsd(at.costPico ?? -1n)).toBe("0.26"); // 200000 × 1.25/1M + 1000 × 10/1M
    const above = priceCall(
      "gemini-2.5-pro",
      usage({ promptTokenCount: 200_001, candidatesTokenCount: 1000 }),
    );
    expect(picoToUsd(above.costPico ?? -1n)).toBe("0.5150025"); // 200001 × 2.50/1M + 1000 × 15/1M
    expect(above.priceTier).toBe("long_context");
  });

  it("resolves dated model variants by prefix but keeps flash-lite apart", () => {
    expect(isKnownModel("gemini-2.5-flash-preview-09-2025")).toBe(true);
    const lite = priceCall("gemini-2.5-flash-lite", usage({ promptTokenCount: 1_000_000 }));
    expect(picoToUsd(lite.costPico ?? -1n)).toBe("0.1");
  });

  it("returns a null cost for an unknown model, never a silent 0", () => {
    expect(priceCall("gpt-4o", usage({ promptTokenCount: 5 }))).toEqual({
      costPico: null,
      priceVersion: null,
      priceTier: null,
    });
  });
});
