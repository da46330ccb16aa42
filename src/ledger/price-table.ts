/**
 * Gemini list prices in USD per 1M tokens (paid tier, text/image input), by model.
 * A price version names the table a call was priced with, so it can be re-priced later
 * from `llm_calls.raw_usage`. Thinking tokens are billed at the output rate; cached input
 * at its own rate. Long-context models change rate above `longContextThreshold` prompt tokens.
 */
export interface RateCard {
  input: string;
  output: string;
  cachedInput: string;
}

export interface ModelPrice {
  standard: RateCard;
  /** Rates when the prompt exceeds `longContextThreshold` tokens. */
  longContext?: RateCard;
  longContextThreshold?: number;
}

export interface PriceTable {
  version: string;
  effectiveFrom: string;
  models: Record<string, ModelPrice>;
}

const LONG_CONTEXT = 200_000;

export const PRICE_TABLE: PriceTable = {
  version: "gemini-2025-12",
  effectiveFrom: "2025-12-01",
  models: {
    "gemini-3-pro-preview": {
      standard: { input: "2.00", output: "12.00", cachedInput: "0.20" },
      longContext: { input: "4.00", output: "18.00", cachedInput: "0.40" },
      longContextThreshold: LONG_CONTEXT,
    },
    "gemini-3-flash-preview": { standard: { input: "0.50", output: "3.00", cachedInput: "0.05" } },
    "gemini-2.5-pro": {
      standard: { input: "1.25", output: "10.00", cachedInput: "0.125" },
      longContext: { input: "2.50", output: "15.00", cachedInput: "0.25" },
      longContextThreshold: LONG_CONTEXT,
    },
    "gemini-2.5-flash": { standard: { input: "0.30", output: "2.50", cachedInput: "0.03" } },
    "gemini-2.5-flash-lite": { standard: { input: "0.10", output: "0.40", cachedInput: "0.01" } },
    "gemini-2.0-flash": { standard: { input: "0.10", output: "0.40", cachedInput: "0.025" } },
    "gemini-2.0-flash-lite": { standard: { input: "0.075", output: "0.30", cachedInput: "0.075" } },
  },
};
