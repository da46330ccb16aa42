/**
 * Normalises Gemini `usageMetadata` into ledger token fields (DESIGN §3).
 * Pure: the caller decides what to log when `totalMismatch` is set.
 */

export type UsageSource = "provider" | "estimated" | "none";

export interface ModalityTokens {
  input: Record<string, number>;
  output: Record<string, number>;
}

export interface TokenUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
  totalTokens: number;
  usageSource: UsageSource;
  modalityTokens: ModalityTokens;
  /** The provider's total differs from input + output; its figures are kept as sent. */
  totalMismatch: boolean;
}

/** Characters per token used when the provider sends no usage (Gemini's documented rule of thumb). */
export const CHARS_PER_TOKEN = 4;

export const ZERO_USAGE: TokenUsage = Object.freeze({
  inputTokens: 0,
  cachedInputTokens: 0,
  outputTokens: 0,
  thinkingTokens: 0,
  totalTokens: 0,
  usageSource: "none",
  modalityTokens: Object.freeze({ input: {}, output: {} }) as ModalityTokens,
  totalMismatch: false,
}) as TokenUsage;

const count = (value: unknown): number =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.trunc(value) : 0;

function modalityMap(details: unknown): Record<string, number> {
  const map: Record<string, number> = {};
  if (!Array.isArray(details)) return map;
  for (const entry of details) {
    if (entry && typeof entry === "object" && "modality" in entry) {
      const modality = String((entry as { modality: unknown }).modality);
      map[modality] = (map[modality] ?? 0) + count((entry as { tokenCount?: unknown }).tokenCount);
    }
  }
  return map;
}

/** Usage from the provider's `usageMetadata`; missing fields count 0. */
export function usageFromMetadata(metadata: Record<string, unknown>): TokenUsage {
  const prompt = count(metadata.promptTokenCount);
  const toolUsePrompt = count(metadata.toolUsePromptTokenCount);
  const candidates = count(metadata.candidatesTokenCount);
  const thoughts = count(metadata.thoughtsTokenCount);
  const inputTokens = prompt + toolUsePrompt;
  const outputTokens = candidates + thoughts;
  const summed = inputTokens + outputTokens;
  const hasTotal = typeof metadata.totalTokenCount === "number";
  const totalTokens = hasTotal ? count(metadata.totalTokenCount) : summed;
  return {
    inputTokens,
    cachedInputTokens: count(metadata.cachedContentTokenCount),
    outputTokens,
    thinkingTokens: thoughts,
    totalTokens,
    usageSource: "provider",
    modalityTokens: {
      input: modalityMap(metadata.promptTokensDetails),
      output: modalityMap(metadata.candidatesTokensDetails),
    },
    totalMismatch: totalTokens !== summed,
  };
}

/** A local estimate for a response that came back without any `usageMetadata`. */
export function estimateUsage(inputChars: number, outputChars: number): TokenUsage {
  const inputTokens = Math.ceil(Math.max(0, inputChars) / CHARS_PER_TOKEN);
  const outputTokens = Math.ceil(Math.max(0, outputChars) / CHARS_PER_TOKEN);
  return {
    ...ZERO_USAGE,
    inputTokens,
    outputTokens,
    totalTokens: inputTokens + outputTokens,
    usageSource: "estimated",
    modalityTokens: { input: { TEXT: inputTokens }, output: outputTokens ? { TEXT: outputTokens } : {} },
  };
}

/**
 * The ledger's usage for one call: the provider's figures when a response carried them, an
 * estimate when a response came without them, and nothing when no response was received.
 */
export function normalizeUsage(
  metadata: unknown,
  response: { received: boolean; inputChars: number; outputChars: number },
): TokenUsage {
  if (metadata && typeof metadata === "object") return usageFromMetadata(metadata as Record<string, unknown>);
  if (response.received) return estimateUsage(response.inputChars, response.outputChars);
  return ZERO_USAGE;
}
