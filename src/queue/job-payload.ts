import { z } from "zod";

export const TICKER_PATTERN = /^[A-Z0-9][A-Z0-9.&-]{0,19}$/;
export const ANALYSIS_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Tickers are upper-cased, then must match DESIGN §5's pattern (RELIANCE, M&M, BAJAJ-AUTO, TCS.NS, BRK.B). */
export const tickerSchema = z
  .string()
  .transform((value) => value.trim().toUpperCase())
  .refine((value) => TICKER_PATTERN.test(value), {
    message: "must be 1-20 of A-Z 0-9 . & - starting with a letter or digit",
  });

/** Analysis ids become BullMQ job ids: no ':' and not all digits (BullMQ reserves those). */
export const analysisIdSchema = z
  .string()
  .regex(ANALYSIS_ID_PATTERN, "must be 1-64 of A-Z a-z 0-9 _ -")
  .refine((value) => !/^\d+$/.test(value), { message: "must not be all digits" });

export const modelSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,63}$/, "must be a model name such as gemini-2.5-flash");

export const analysisJobSchema = z.object({
  analysisId: analysisIdSchema,
  ticker: tickerSchema,
  model: modelSchema,
});

export type AnalysisJobData = z.infer<typeof analysisJobSchema>;

/** Shows a value in an error line without letting control characters or huge input through. */
export function quoteInput(value: string): string {
  const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return shown;
}
