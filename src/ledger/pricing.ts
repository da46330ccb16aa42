import { UsageError } from "../config/config.js";
import type { Picodollars } from "./money.js";
import { usdToPico } from "./money.js";
import { activePriceBook, knownModels, type PriceBook, type RateCard, resolvePrice } from "./price-table.js";
import type { TokenUsage } from "./usage.js";

export type PriceTier = "standard" | "long_context" | "cache_storage";

export interface CallCost {
  /** null when the model has no known price: never a silent 0. */
  costPico: Picodollars | null;
  priceVersion: string | null;
  priceTier: PriceTier | null;
}

interface ParsedRates {
  input: bigint;
  output: bigint;
  cachedInput: bigint;
}

const parsedCards = new WeakMap<RateCard, ParsedRates>();

/**
 * Picodollars per token = USD per 1M tokens × 1e6, an integer for any rate with ≤ 6 decimals.
 * Parsed once per card (cards are immutable book data), not on every call.
 */
function perToken(card: RateCard): ParsedRates {
  let rates = parsedCards.get(card);
  if (!rates) {
    rates = {
      input: usdToPico(card.input) / 1_000_000n,
      output: usdToPico(card.output) / 1_000_000n,
      cachedInput: usdToPico(card.cachedInput) / 1_000_000n,
    };
    parsedCards.set(card, rates);
  }
  return rates;
}

export function isKnownModel(
  model: string,
  at: Date = new Date(),
  book: PriceBook = activePriceBook(),
): boolean {
  return resolvePrice(model, at, book) !== undefined;
}

/** An analysis asked for a model with no price, without allowing it to run unpriced (exit 2 / 400). */
export class UnpricedModelError extends UsageError {
  override name = "UnpricedModelError";
  readonly type = "unpriced_model";
}

/**
 * For the enqueue paths: refuses a model the book cannot price, unless the caller allows it,
 * so no analysis records costs of null by accident. A dated variant of a known model
 * ("gemini-2.5-flash-preview-09-2025") is priced. `flag` names the caller's switch in the
 * message ("--allow-unpriced" on the command line, "allow_unpriced" in the API).
 * Returns whether the model is priced.
 */
export function assertPricedModel(
  model: string,
  options: { allowUnpriced?: boolean; flag?: string; book?: PriceBook } = {},
): boolean {
  const book = options.book ?? activePriceBook();
  // A known model always resolves (a call before its first price takes that price), so any moment does.
  if (isKnownModel(model, new Date(), book)) return true;
  if (options.allowUnpriced) return false;
  throw new UnpricedModelError(
    `unknown model ${model}: no price known (known: ${knownModels(book).join(", ")}); ` +
      `pass ${options.flag ?? "--allow-unpriced"} to run it unpriced`,
  );
}

/**
 * Cost of one call at the rates in force at `at` (the call's start): uncached input at the
 * input rate, cached input at the cache rate, output (thinking included) at the output rate;
 * the tier is chosen by prompt size.
 */
export function priceCall(
  model: string,
  usage: TokenUsage,
  at: Date = new Date(),
  book: PriceBook = activePriceBook(),
): CallCost {
  const resolved = resolvePrice(model, at, book);
  if (!resolved) return { costPico: null, priceVersion: null, priceTier: null };
  const { price } = resolved;
  const long =
    price.longContext !== undefined &&
    price.longContextThreshold !== undefined &&
    usage.inputTokens > price.longContextThreshold;
  const rates = perToken(long && price.longContext ? price.longContext : price.standard);
  const cached = BigInt(Math.min(usage.cachedInputTokens, usage.inputTokens));
  const uncached = BigInt(usage.inputTokens) - cached;
  const costPico =
    uncached * rates.input + cached * rates.cachedInput + BigInt(usage.outputTokens) * rates.output;
  return { costPico, priceVersion: resolved.version, priceTier: long ? "long_context" : "standard" };
}
