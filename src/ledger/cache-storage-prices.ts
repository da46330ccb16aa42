import { type Picodollars, usdToPico } from "./money.js";

/**
 * Explicit context cache storage, USD per 1M cached tokens per hour (Gemini API list prices).
 * Storage is billed for as long as a cache exists, on top of its cached-token reads.
 */
const STORAGE_PER_MILLION_PER_HOUR: Record<string, string> = {
  "gemini-3-pro-preview": "4.50",
  "gemini-3-flash-preview": "1.00",
  "gemini-2.5-pro": "4.50",
  "gemini-2.5-flash": "1.00",
  "gemini-2.5-flash-lite": "1.00",
  "gemini-2.0-flash": "1.00",
};

export const CACHE_STORAGE_PRICE_VERSION = "gemini-2025-12-storage";

function rateFor(model: string): string | undefined {
  if (STORAGE_PER_MILLION_PER_HOUR[model]) return STORAGE_PER_MILLION_PER_HOUR[model];
  const prefix = Object.keys(STORAGE_PER_MILLION_PER_HOUR)
    .filter((name) => model.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return prefix ? STORAGE_PER_MILLION_PER_HOUR[prefix] : undefined;
}

/** Cost of keeping `tokens` cached for `milliseconds`; null for a model with no known rate. */
export function priceCacheStorage(model: string, tokens: number, milliseconds: number): Picodollars | null {
  const rate = rateFor(model);
  if (rate === undefined) return null;
  // pico per (token·ms) = USD/1M/h × 1e12 / 1e6 / 3.6e6; keep it exact in BigInt.
  return (
    (usdToPico(rate) * BigInt(tokens) * BigInt(Math.max(0, Math.round(milliseconds)))) / 3_600_000_000_000n
  );
}
