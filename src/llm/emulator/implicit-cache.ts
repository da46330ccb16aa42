import { createHash } from "node:crypto";
import type { PromptSegment } from "./request.js";
import {
  CACHE_BLOCK_TOKENS,
  CHARS_PER_TOKEN,
  minCacheTokens,
  NO_TOKENS,
  type PromptTokens,
} from "./usage.js";

/**
 * A model of Gemini 2.5's implicit caching. A prompt becomes a cacheable prefix only once its
 * request has been answered; a later request of the same model that starts with (part of) it
 * gets the shared prefix billed as cached, if that prefix reaches the model's minimum, in whole
 * 256-token blocks. Requests in flight together never hit each other, as on the real service.
 */

export const IMPLICIT_CACHE_TTL_MS = 5 * 60_000;

export interface ImplicitCacheLimits {
  ttlMs: number;
  maxEntries: number;
  /** Total text characters held, so a few huge prompts cannot grow memory without end. */
  maxChars: number;
}

const DEFAULT_LIMITS: ImplicitCacheLimits = {
  ttlMs: IMPLICIT_CACHE_TTL_MS,
  maxEntries: 256,
  maxChars: 16_000_000,
};

interface Entry {
  model: string;
  segments: PromptSegment[];
  chars: number;
  /** When it was answered (for the TTL) and in which order (for "answered before arrival"). */
  at: number;
  ordinal: number;
}

interface SharedPrefix {
  chars: number;
  /** Tile tokens of the identical images inside the prefix. */
  imageTokens: number;
}

/** Stretches compared natively before the character loop: long ones first, then short. */
const PREFIX_STRIDES = [1024, 64];

function commonPrefixLength(a: string, b: string): number {
  // Lookups compare a prompt with every entry (up to 256, several KB each), and a JS loop over
  // every shared character made them half of the emulator's CPU. Whole equal segments (the
  // system instruction, a ticker's brief) are one native comparison; in the first differing
  // one, equal stretches are skipped by native comparisons of slices (views, not copies), and
  // only the last stretch is walked character by character: ~10× fewer steps.
  if (a === b) return a.length;
  const limit = Math.min(a.length, b.length);
  let index = 0;
  for (const stride of PREFIX_STRIDES) {
    while (index + stride <= limit && a.slice(index, index + stride) === b.slice(index, index + stride)) {
      index += stride;
    }
  }
  while (index < limit && a.charCodeAt(index) === b.charCodeAt(index)) index++;
  return index;
}

/** Character-exact over text parts; an image continues the prefix only if it is the same image. */
function sharedPrefix(a: readonly PromptSegment[], b: readonly PromptSegment[]): SharedPrefix {
  const shared = { chars: 0, imageTokens: 0 };
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    const left = a[index];
    const right = b[index];
    if (typeof left === "string" && typeof right === "string") {
      const common = commonPrefixLength(left, right);
      shared.chars += common;
      if (common < left.length || common < right.length) break;
    } else if (typeof left === "object" && typeof right === "object" && left.image === right.image) {
      shared.imageTokens += left.tokens;
    } else {
      break;
    }
  }
  return shared;
}

function textChars(segments: readonly PromptSegment[]): number {
  return segments.reduce((sum, segment) => sum + (typeof segment === "string" ? segment.length : 0), 0);
}

function keyOf(model: string, segments: readonly PromptSegment[]): string {
  const hash = createHash("sha256").update(model);
  for (const segment of segments) {
    hash.update(typeof segment === "string" ? `\u0000t${segment}` : `\u0000i${segment.image}`);
  }
  return hash.digest("base64url");
}

export class ImplicitCache {
  // Insertion order is answer order, so eviction walks from the oldest entry.
  readonly #entries = new Map<string, Entry>();
  #chars = 0;
  #answered = 0;
  readonly #limits: ImplicitCacheLimits;

  constructor(
    private readonly now: () => number = Date.now,
    limits: Partial<ImplicitCacheLimits> = {},
  ) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Taken when a request arrives: only prompts answered before this mark can serve it. */
  mark(): number {
    return this.#answered;
  }

  /** The cached part of a prompt that arrived at `mark`, split by modality. */
  lookup(
    model: string,
    segments: readonly PromptSegment[],
    prompt: PromptTokens,
    mark: number,
  ): PromptTokens {
    this.#evict(this.now());
    let best = 0;
    let bestImageTokens = 0;
    for (const entry of this.#entries.values()) {
      if (entry.model !== model || entry.ordinal > mark) continue;
      const shared = sharedPrefix(entry.segments, segments);
      const tokens = Math.floor(shared.chars / CHARS_PER_TOKEN) + shared.imageTokens;
      if (tokens > best) {
        best = tokens;
        bestImageTokens = shared.imageTokens;
      }
    }
    if (best < minCacheTokens(model)) return NO_TOKENS;
    const total = Math.min(Math.floor(best / CACHE_BLOCK_TOKENS) * CACHE_BLOCK_TOKENS, prompt.total);
    const image = Math.min(bestImageTokens, total);
    return { total, text: total - image, image };
  }

  /** Called once a request has been answered: its prompt is now a cacheable prefix. */
  remember(model: string, segments: readonly PromptSegment[]): void {
    const key = keyOf(model, segments);
    const previous = this.#entries.get(key);
    if (previous) {
      this.#entries.delete(key);
      this.#chars -= previous.chars;
    }
    const chars = textChars(segments);
    this.#entries.set(key, {
      model,
      segments: [...segments],
      chars,
      at: this.now(),
      ordinal: ++this.#answered,
    });
    this.#chars += chars;
    this.#evict(this.now());
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }

  #evict(now: number): void {
    const { ttlMs, maxEntries, maxChars } = this.#limits;
    for (const [key, entry] of this.#entries) {
      const fresh = now - entry.at <= ttlMs;
      if (fresh && this.#entries.size <= maxEntries && this.#chars <= maxChars) break;
      this.#entries.delete(key);
      this.#chars -= entry.chars;
    }
  }
}
