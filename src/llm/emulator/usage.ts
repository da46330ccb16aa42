import { isThinkingModel } from "../model-capabilities.js";
import type { ModalityTokenCount, UsageMetadata } from "./protocol.js";
import type { RequestDigest } from "./request.js";
import { between, createRandom } from "./seed.js";

/**
 * Token figures shaped like Gemini 2.5's usageMetadata. The rules are simple on purpose
 * (chars / 4; 258 per image tile, see ../image-tokens.ts) so tests can predict every number the
 * ledger should record.
 */

export const CHARS_PER_TOKEN = 4;
/** Fewest tokens Gemini caches (implicitly or explicitly) for models not in the table below. */
export const MIN_CACHEABLE_PROMPT_TOKENS = 1024;
/** Implicitly cached tokens are reported in whole blocks. */
export const CACHE_BLOCK_TOKENS = 256;

/** Minimum cacheable tokens per model family, as Gemini documents them; first match wins. */
const MIN_CACHE_TOKENS: readonly (readonly [RegExp, number])[] = [
  [/^gemini-(?:2\.5|3(?:\.\d+)?)-pro/, 4096],
  [/^gemini-(?:2\.0|2\.5|3(?:\.\d+)?)-flash/, 1024],
];

/** The smallest prompt prefix (implicit) or cachedContents entry (explicit) the model caches. */
export function minCacheTokens(model: string): number {
  const id = model.replace(/^(?:models|tunedModels)\//, "");
  return MIN_CACHE_TOKENS.find(([pattern]) => pattern.test(id))?.[1] ?? MIN_CACHEABLE_PROMPT_TOKENS;
}

export function tokensForChars(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

export interface PromptTokens {
  total: number;
  text: number;
  image: number;
}

export function promptTokens(digest: RequestDigest): PromptTokens {
  const text = tokensForChars(digest.textChars);
  const image = digest.imageTokens.reduce((sum, tokens) => sum + tokens, 0);
  return { total: text + image, text, image };
}

export const NO_TOKENS: PromptTokens = { total: 0, text: 0, image: 0 };

export function addTokens(a: PromptTokens, b: PromptTokens): PromptTokens {
  return { total: a.total + b.total, text: a.text + b.text, image: a.image + b.image };
}

export function promptDetails(prompt: PromptTokens): ModalityTokenCount[] {
  const details: ModalityTokenCount[] = [{ modality: "TEXT", tokenCount: prompt.text }];
  if (prompt.image > 0) details.push({ modality: "IMAGE", tokenCount: prompt.image });
  return details;
}

export { isThinkingModel };

export interface ThoughtsInput {
  seed: number;
  candidates: number;
  model: string;
  thinking: boolean;
  /** generationConfig.thinkingConfig.thinkingBudget: 0 turns thinking off, > 0 caps it. */
  budget: number | undefined;
}

/** 20–60% of the answer, fixed by the request's seed so retries report the same figure. */
export function thoughtsTokens(input: ThoughtsInput): number {
  if (!input.thinking || !isThinkingModel(input.model) || input.budget === 0) return 0;
  const fraction = between(createRandom(input.seed ^ 0x5bd1e995), 0.2, 0.6);
  const thoughts = Math.ceil(input.candidates * fraction);
  return input.budget !== undefined && input.budget > 0 ? Math.min(thoughts, input.budget) : thoughts;
}

/** Modalities with a non-zero count, for cacheTokensDetails. */
export function cacheDetails(cached: PromptTokens): ModalityTokenCount[] {
  const details: ModalityTokenCount[] = [];
  if (cached.text > 0) details.push({ modality: "TEXT", tokenCount: cached.text });
  if (cached.image > 0) details.push({ modality: "IMAGE", tokenCount: cached.image });
  return details;
}

export interface UsageInput {
  prompt: PromptTokens;
  candidates: number;
  thoughts: number;
  /** The part of the prompt served from a cache (implicit or cachedContents). */
  cached: PromptTokens;
}

/** Zero-valued optional fields are omitted, as Gemini does; keys follow Gemini's order. */
export function buildUsage(input: UsageInput): UsageMetadata {
  const { prompt, candidates, thoughts, cached } = input;
  return {
    promptTokenCount: prompt.total,
    ...(candidates > 0 ? { candidatesTokenCount: candidates } : {}),
    totalTokenCount: prompt.total + candidates + thoughts,
    ...(cached.total > 0 ? { cachedContentTokenCount: cached.total } : {}),
    promptTokensDetails: promptDetails(prompt),
    ...(cached.total > 0 ? { cacheTokensDetails: cacheDetails(cached) } : {}),
    ...(candidates > 0
      ? { candidatesTokensDetails: [{ modality: "TEXT" as const, tokenCount: candidates }] }
      : {}),
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
  };
}
