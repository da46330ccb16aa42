import { UsageError } from "../config/config.js";
import type { Picodollars } from "./money.js";
import { usdToPico } from "./money.js";
import {
  activePriceBook,
  knownModels,
  type ModelPrice,
  type PriceBook,
  type RateCard,
  resolvePrice,
} from "./price-table.js";
import type { TokenUsage } from "./usage.js";

export type PriceTier = "standard" | "long_context" | "batch" | "batch_long_context" | "cache_storage";

/** How a call was served: interactively, or through the Batch API (billed at the batch rates). */
export type ServiceTier = "standard" | "batch";

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
const derivedBatchCards = new WeakMap<RateCard, RateCard>();

/**
 * A model's batch card: its own when the book lists one; else Google's rule, half the input and
 * output rates, cached input unchanged (a user's price book may add models without batch rates).
 */
function batchCardOf(card: RateCard, listed: RateCard | undefined): RateCard {
  if (listed) return listed;
  let derived = derivedBatchCards.get(card);
  if (!derived) {
    derived = { input: halveUsd(card.input), output: halveUsd(card.output), cachedInput: card.cachedInput };
    derivedBatchCards.set(card, derived);
  }
  return derived;
}

/** Half of a decimal USD rate, exactly (one more decimal at most). */
function halveUsd(rate: string): string {
  const pico = usdToPico(rate) / 2n;
  const whole = pico / 1_000_000_000_000n;
  const fraction = (pico % 1_000_000_000_000n).toString().padStart(12, "0").replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : `${whole}`;
}

/** The rate card that prices a call of this size and service tier. */
export function rateCardFor(
  price: ModelPrice,
  inputTokens: number,
  tier: ServiceTier,
): { card: RateCard; priceTier: PriceTier } {
  const long =
    price.longContext !== undefined &&
    price.longContextThreshold !== undefined &&
    inputTokens > price.longContextThreshold;
  const base = long && price.longContext ? price.longContext : price.standard;
  if (tier === "standard") return { card: base, priceTier: long ? "long_context" : "standard" };
  return long
    ? { card: batchCardOf(base, price.batchLongContext), priceTier: "batch_long_context" }
    : { card: batchCardOf(base, price.batch), priceTier: "batch" };
}

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
 * the tier is chosen by prompt size and by how the call was served (batch: the batch rates).
 */
export function priceCall(
  model: string,
  usage: TokenUsage,
  at: Date = new Date(),
  book: PriceBook = activePriceBook(),
  serviceTier: ServiceTier = "standard",
): CallCost {
  const resolved = resolvePrice(model, at, book);
  if (!resolved) return { costPico: null, priceVersion: null, priceTier: null };
  const { card, priceTier } = rateCardFor(resolved.price, usage.inputTokens, serviceTier);
  const rates = perToken(card);
  const cached = BigInt(Math.min(usage.cachedInputTokens, usage.inputTokens));
  const uncached = BigInt(usage.inputTokens) - cached;
  const costPico =
    uncached * rates.input + cached * rates.cachedInput + BigInt(usage.outputTokens) * rates.output;
  return { costPico, priceVersion: resolved.version, priceTier };
}
