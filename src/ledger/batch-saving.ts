import type { Picodollars } from "./money.js";
import { activePriceBook, type ModelPrice, type PriceBook, type RateCard } from "./price-table.js";
import { priceCall, rateCardFor } from "./pricing.js";
import type { TokenUsage } from "./usage.js";

/**
 * What serving a call through the Batch API saved: its cost at the standard rates (same usage,
 * same price version, standard or long-context tier by prompt size) less its cost at the batch
 * rates, exactly. null when the model has no known price.
 */
export function batchSavingPico(
  model: string,
  usage: TokenUsage,
  at: Date,
  book: PriceBook = activePriceBook(),
): Picodollars | null {
  const standard = priceCall(model, usage, at, book, "standard").costPico;
  const batch = priceCall(model, usage, at, book, "batch").costPico;
  return standard === null || batch === null ? null : standard - batch;
}

/** The price tiers a call's tokens are billed at (`llm_calls.price_tier`, cache storage aside). */
export const TOKEN_PRICE_TIERS = ["standard", "long_context", "batch", "batch_long_context"] as const;

/**
 * The rate card behind a stored price tier, as priceCall chose it: a model without long-context
 * rates has its standard (or batch) card in the long tiers; any other tier reads as standard.
 */
export function rateCardOfTier(price: ModelPrice, tier: string | null): RateCard {
  switch (tier) {
    case "long_context":
      return price.longContext ?? price.standard;
    case "batch":
      return rateCardFor(price, 0, "batch").card;
    case "batch_long_context":
      return rateCardFor(price, Number.POSITIVE_INFINITY, "batch").card;
    default:
      return price.standard;
  }
}
