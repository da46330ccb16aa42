import type { Picodollars } from "./money.js";
import { usdToPico } from "./money.js";
import { PRICE_TABLE, type PriceTable, type RateCard } from "./price-table.js";
import type { TokenUsage } from "./usage.js";

export type PriceTier = "standard" | "long_context";

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

/** Picodollars per token = USD per 1M tokens × 1e6, an integer for any rate with ≤ 6 decimals. */
const perToken = (card: RateCard): ParsedRates => ({
  input: usdToPico(card.input) / 1_000_000n,
  output: usdToPico(card.output) / 1_000_000n,
  cachedInput: usdToPico(card.cachedInput) / 1_000_000n,
});

/**
 * Resolves a model name to its price entry: exact name first, then the longest known
 * name it starts with, so "gemini-2.5-flash-preview-09-2025" prices as gemini-2.5-flash
 * while "gemini-2.5-flash-lite" keeps its own rate.
 */
function findModel(table: PriceTable, model: string) {
  const exact = table.models[model];
  if (exact) return exact;
  const prefix = Object.keys(table.models)
    .filter((name) => model.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return prefix ? table.models[prefix] : undefined;
}

export function isKnownModel(model: string, table: PriceTable = PRICE_TABLE): boolean {
  return findModel(table, model) !== undefined;
}

/**
 * Cost of one call: uncached input at the input rate, cached input at the cache rate,
 * output (thinking included) at the output rate; the tier is chosen by prompt size.
 */
export function priceCall(model: string, usage: TokenUsage, table: PriceTable = PRICE_TABLE): CallCost {
  const entry = findModel(table, model);
  if (!entry) return { costPico: null, priceVersion: null, priceTier: null };
  const long =
    entry.longContext !== undefined &&
    entry.longContextThreshold !== undefined &&
    usage.inputTokens > entry.longContextThreshold;
  const rates = perToken(long && entry.longContext ? entry.longContext : entry.standard);
  const cached = BigInt(Math.min(usage.cachedInputTokens, usage.inputTokens));
  const uncached = BigInt(usage.inputTokens) - cached;
  const costPico =
    uncached * rates.input + cached * rates.cachedInput + BigInt(usage.outputTokens) * rates.output;
  return { costPico, priceVersion: table.version, priceTier: long ? "long_context" : "standard" };
}
