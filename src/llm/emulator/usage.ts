import type { ModalityTokenCount, UsageMetadata } from "./protocol.js";
import type { RequestDigest } from "./request.js";
import { between, createRandom } from "./seed.js";

/**
 * Token figures shaped like Gemini 2.5's usageMetadata. The rules are simple on purpose
 * (chars / 4, 258 per image) so tests can predict every number the ledger should record.
 */

export const CHARS_PER_TOKEN = 4;
export const TOKENS_PER_IMAGE = 258;
/** Gemini's implicit caching needs a prompt at least this long (2.5 Flash). */
export const MIN_CACHEABLE_PROMPT_TOKENS = 1024;
/** Cached tokens are reported in whole blocks. */
export const CACHE_BLOCK_TOKENS = 256;
export const CACHE_KEY_CHARS = 4096;
export const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX_ENTRIES = 1000;

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
  const image = digest.imageCount * TOKENS_PER_IMAGE;
  return { total: text + image, text, image };
}

export function promptDetails(prompt: PromptTokens): ModalityTokenCount[] {
  const details: ModalityTokenCount[] = [{ modality: "TEXT", tokenCount: prompt.text }];
  if (prompt.image > 0) details.push({ modality: "IMAGE", tokenCount: prompt.image });
  return details;
}

/** Gemini 2.5 and 3 think by default; older models never report thoughts. */
export function isThinkingModel(model: string): boolean {
  return /-(2\.5|3)(?:[.-]|$)/.test(model);
}

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

export interface UsageInput {
  prompt: PromptTokens;
  candidates: number;
  thoughts: number;
  cached: number;
}

/** Zero-valued optional fields are omitted, as Gemini does; keys follow Gemini's order. */
export function buildUsage(input: UsageInput): UsageMetadata {
  const { prompt, candidates, thoughts, cached } = input;
  return {
    promptTokenCount: prompt.total,
    ...(candidates > 0 ? { candidatesTokenCount: candidates } : {}),
    totalTokenCount: prompt.total + candidates + thoughts,
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    promptTokensDetails: promptDetails(prompt),
    ...(cached > 0 ? { cacheTokensDetails: [{ modality: "TEXT" as const, tokenCount: cached }] } : {}),
    ...(candidates > 0
      ? { candidatesTokensDetails: [{ modality: "TEXT" as const, tokenCount: candidates }] }
      : {}),
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function commonPrefixLength(a: string, b: string): number {
  const limit = Math.min(a.length, b.length);
  let index = 0;
  while (index < limit && a.charCodeAt(index) === b.charCodeAt(index)) index++;
  return index;
}

/**
 * A model of Gemini's implicit caching: a request whose opening matches one seen recently
 * (same model) gets its shared prefix billed as cached, in whole 256-token blocks.
 */
export class ImplicitCache {
  readonly #entries = new Map<string, { text: string; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Cached tokens for this request; then remembers it for later ones. */
  observe(model: string, text: string, promptTokenCount: number): number {
    const now = this.now();
    this.#evict(now);
    const key = `${model}\u0000${text.slice(0, CACHE_KEY_CHARS)}`;
    const previous = this.#entries.get(key);
    // Delete then set keeps the map ordered by last use, so eviction stops at the first fresh entry.
    this.#entries.delete(key);
    this.#entries.set(key, { text, at: now });
    if (!previous || promptTokenCount < MIN_CACHEABLE_PROMPT_TOKENS) return 0;
    const sharedTokens = Math.floor(commonPrefixLength(previous.text, text) / CHARS_PER_TOKEN);
    const blocks = Math.floor(sharedTokens / CACHE_BLOCK_TOKENS) * CACHE_BLOCK_TOKENS;
    return Math.min(blocks, promptTokenCount);
  }

  clear(): void {
    this.#entries.clear();
  }

  #evict(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.at <= CACHE_TTL_MS && this.#entries.size <= CACHE_MAX_ENTRIES) break;
      this.#entries.delete(key);
    }
  }
}
