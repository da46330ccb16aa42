import type { PriceBook } from "../price-table.js";

/**
 * Gemini list prices (paid tier, text/image/video input), USD per 1M tokens.
 *
 * Append-only history: to change a rate, add a new version with its `effectiveFrom` and only
 * the models whose rates change; never edit a version that has already priced calls, because
 * `llm_calls.price_version` names it. A model keeps the rate of the newest version in force
 * that lists it. Rates need at most 6 decimals (so a token costs a whole number of picodollars).
 *
 * `batch` cards are the Batch API column of Google's pricing page: half the standard input and
 * output rates; context-cache reads at the standard cache rate. They were added to this version
 * before any call was priced at batch rates, so no stored cost changes.
 */
const LONG_CONTEXT_PROMPT_TOKENS = 200_000;

export const GEMINI_PRICE_BOOK: PriceBook = [
  {
    version: "gemini-2025-12",
    effectiveFrom: "2025-12-01",
    models: {
      "gemini-3-pro-preview": {
        standard: { input: "2.00", output: "12.00", cachedInput: "0.20" },
        longContext: { input: "4.00", output: "18.00", cachedInput: "0.40" },
        longContextThreshold: LONG_CONTEXT_PROMPT_TOKENS,
        batch: { input: "1.00", output: "6.00", cachedInput: "0.20" },
        batchLongContext: { input: "2.00", output: "9.00", cachedInput: "0.40" },
      },
      "gemini-3-flash-preview": {
        standard: { input: "0.50", output: "3.00", cachedInput: "0.05" },
        batch: { input: "0.25", output: "1.50", cachedInput: "0.05" },
      },
      "gemini-2.5-pro": {
        standard: { input: "1.25", output: "10.00", cachedInput: "0.125" },
        longContext: { input: "2.50", output: "15.00", cachedInput: "0.25" },
        longContextThreshold: LONG_CONTEXT_PROMPT_TOKENS,
        batch: { input: "0.625", output: "5.00", cachedInput: "0.125" },
        batchLongContext: { input: "1.25", output: "7.50", cachedInput: "0.25" },
      },
      "gemini-2.5-flash": {
        standard: { input: "0.30", output: "2.50", cachedInput: "0.03" },
        batch: { input: "0.15", output: "1.25", cachedInput: "0.03" },
      },
      "gemini-2.5-flash-lite": {
        standard: { input: "0.10", output: "0.40", cachedInput: "0.01" },
        batch: { input: "0.05", output: "0.20", cachedInput: "0.01" },
      },
      "gemini-2.0-flash": {
        standard: { input: "0.10", output: "0.40", cachedInput: "0.025" },
        batch: { input: "0.05", output: "0.20", cachedInput: "0.025" },
      },
      "gemini-2.0-flash-lite": {
        standard: { input: "0.075", output: "0.30", cachedInput: "0.075" },
        batch: { input: "0.0375", output: "0.15", cachedInput: "0.0375" },
      },
    },
  },
];
