import {
  type CachedContent,
  type GenerativeModel,
  GoogleGenerativeAI,
  type Part,
} from "@google/generative-ai";
import { GoogleAICacheManager } from "@google/generative-ai/server";
import { LlmCallError, mapSdkError } from "./errors.js";

class DeadlineError extends Error {
  override name = "AbortError";
}

/** For SDK calls that take no AbortSignal: stop waiting at the deadline (the request may go on). */
async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(`no response within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The one file that knows @google/generative-ai (0.24, legacy but working on Node 20).
 * Swapping to @google/genai later touches only this adapter.
 */

/** An image sent inline with a prompt (base64 data). */
export interface InlineImage {
  mimeType: string;
  data: string;
}

/**
 * A prompt laid out for caching: the shared text prefix, the stage's images, then the stage's
 * own text. With a context cache, the prefix is in the cache and only the rest is sent.
 */
export interface PromptContent {
  prefix: string;
  images: InlineImage[];
  suffix: string;
}

export interface GenerateRequest {
  model: string;
  systemInstruction: string;
  /** The prompt as one text, when `content` is not given. */
  prompt: string;
  content?: PromptContent | undefined;
  /** Ask for `application/json` output (final_decision). */
  json?: boolean;
  /** Sent as headers so Gemini-protocol servers (the emulator, proxies) can attribute calls. */
  analysisId: string;
  callType: string;
  attempt: number;
  /** Cancels the call (worker shutdown); our own timeout is added on top. */
  signal?: AbortSignal;
  /** Read the system instruction and the prompt's prefix from this cache; send only the rest. */
  contextCache?: ContextCache | undefined;
}

export interface CreateCacheRequest {
  model: string;
  systemInstruction: string;
  prefix: string;
  ttlSeconds: number;
  analysisId: string;
}

/** An explicit context cache (Gemini `cachedContents`). */
export interface ContextCache {
  name: string;
  model: string;
  /** What the provider reported for the cached tokens (totalTokenCount). */
  usageMetadata: Record<string, unknown> | undefined;
  expireTime: string | undefined;
  /** The SDK's own object, needed to build a model bound to the cache. */
  sdkCache: unknown;
}

export interface GenerateResult {
  text: string;
  /** Exactly as the provider sent it; undefined when the response had none. */
  usageMetadata: Record<string, unknown> | undefined;
  finishReason: string | undefined;
  modelVersion: string | undefined;
}

export interface GeminiClientOptions {
  apiKey: string;
  baseUrl?: string | undefined;
  timeoutMs: number;
}

export interface CountRequest {
  model: string;
  systemInstruction: string;
  prompt: string;
  signal?: AbortSignal;
}

export interface LlmClient {
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /** Prompt tokens as the provider counts them (free on Gemini; used for preflight estimates). */
  countTokens(request: CountRequest): Promise<number>;
  createContextCache(request: CreateCacheRequest): Promise<ContextCache>;
  deleteContextCache(cache: ContextCache): Promise<void>;
}

interface RawPart {
  text?: string;
  thought?: boolean;
}
interface RawResponse {
  candidates?: { content?: { parts?: RawPart[] }; finishReason?: string }[];
  promptFeedback?: { blockReason?: string; blockReasonMessage?: string };
  usageMetadata?: Record<string, unknown>;
  modelVersion?: string;
}

const BLOCKING_FINISH = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
]);

function promptParts(request: GenerateRequest, prefixCached: boolean): Part[] {
  const content = request.content ?? { prefix: request.prompt, images: [], suffix: "" };
  const parts: Part[] = [];
  if (!prefixCached && content.prefix) parts.push({ text: content.prefix });
  for (const image of content.images)
    parts.push({ inlineData: { mimeType: image.mimeType, data: image.data } });
  if (content.suffix) parts.push({ text: content.suffix });
  return parts.length > 0 ? parts : [{ text: "" }];
}

/** Answer text without thought-summary parts (which `response.text()` would join in). */
function answerText(response: RawResponse): string {
  const parts = response.candidates?.[0]?.content?.parts ?? [];
  return parts
    .filter((part) => part.thought !== true && typeof part.text === "string")
    .map((part) => part.text)
    .join("");
}

/** A billed response that carries no usable answer becomes a typed, usage-bearing error. */
function rejectBlocked(response: RawResponse): void {
  const usageMetadata = response.usageMetadata;
  const blockReason = response.promptFeedback?.blockReason;
  if (blockReason) {
    throw new LlmCallError("blocked", `prompt blocked: ${blockReason}`, {
      usageMetadata,
      responseReceived: true,
    });
  }
  const finishReason = response.candidates?.[0]?.finishReason;
  if (finishReason && BLOCKING_FINISH.has(finishReason)) {
    throw new LlmCallError("blocked", `response blocked: finishReason ${finishReason}`, {
      usageMetadata,
      responseReceived: true,
      outputChars: answerText(response).length,
    });
  }
  if (!response.candidates?.length) {
    throw new LlmCallError("malformed_output", "response has no candidates", {
      usageMetadata,
      responseReceived: true,
    });
  }
}

export class GeminiClient implements LlmClient {
  readonly #sdk: GoogleGenerativeAI;
  readonly #baseUrl: string | undefined;
  readonly #timeoutMs: number;
  readonly #models = new Map<string, GenerativeModel>();
  readonly #apiKey: string;
  #caches: GoogleAICacheManager | undefined;

  constructor(options: GeminiClientOptions) {
    this.#sdk = new GoogleGenerativeAI(options.apiKey);
    this.#apiKey = options.apiKey;
    // A trailing slash would make the SDK build "//v1beta/..." URLs.
    this.#baseUrl = options.baseUrl?.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs;
  }

  #model(name: string): GenerativeModel {
    let model = this.#models.get(name);
    if (!model) {
      // No `timeout` here: the SDK's own timer is never cleared; we pass an AbortSignal instead.
      model = this.#sdk.getGenerativeModel({ model: name }, this.#baseUrl ? { baseUrl: this.#baseUrl } : {});
      this.#models.set(name, model);
    }
    return model;
  }

  async countTokens(request: CountRequest): Promise<number> {
    return this.#withDeadline(request.signal, async (signal) => {
      const result = await this.#model(request.model).countTokens(
        {
          generateContentRequest: {
            // Unlike generateContent, the SDK passes this through as is: it must be a Content.
            systemInstruction: { role: "system", parts: [{ text: request.systemInstruction }] },
            contents: [{ role: "user", parts: [{ text: request.prompt }] }],
          },
        },
        { signal },
      );
      return result.totalTokens;
    });
  }

  /**
   * Runs one request under our own deadline. One controller per call, with a timer and a
   * listener on the caller's signal that are both removed when the call ends, so nothing
   * accumulates on a long-lived shutdown signal (and no SDK timer leaks).
   */
  async #withDeadline<T>(
    outer: AbortSignal | undefined,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeoutMs);
    const cancel = () => controller.abort();
    if (outer?.aborted) controller.abort();
    outer?.addEventListener("abort", cancel, { once: true });
    try {
      return await work(controller.signal);
    } catch (error) {
      throw mapSdkError(error, { timedOut, timeoutMs: this.#timeoutMs });
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", cancel);
    }
  }

  /**
   * Creates an explicit context cache holding the system instruction and a shared prompt
   * prefix. The cache manager takes no AbortSignal, so our deadline stops the wait only.
   */
  async createContextCache(request: CreateCacheRequest): Promise<ContextCache> {
    const created = (await withTimeout(
      this.#cacheManager().create({
        model: `models/${request.model}`,
        systemInstruction: request.systemInstruction,
        contents: [{ role: "user", parts: [{ text: request.prefix }] }],
        ttlSeconds: request.ttlSeconds,
        displayName: `stock-ledger ${request.analysisId}`,
      }),
      this.#timeoutMs,
    ).catch((error: unknown) => {
      throw mapSdkError(error, { timedOut: error instanceof DeadlineError, timeoutMs: this.#timeoutMs });
    })) as CachedContent & { usageMetadata?: Record<string, unknown> };
    if (!created.name) throw new LlmCallError("malformed_output", "cachedContents.create returned no name");
    return {
      name: created.name,
      model: request.model,
      usageMetadata: created.usageMetadata,
      expireTime: created.expireTime,
      sdkCache: created,
    };
  }

  async deleteContextCache(cache: ContextCache): Promise<void> {
    await withTimeout(this.#cacheManager().delete(cache.name), this.#timeoutMs).catch((error: unknown) => {
      throw mapSdkError(error, { timedOut: error instanceof DeadlineError, timeoutMs: this.#timeoutMs });
    });
  }

  #cacheManager(): GoogleAICacheManager {
    this.#caches ??= new GoogleAICacheManager(this.#apiKey, this.#baseUrl ? { baseUrl: this.#baseUrl } : {});
    return this.#caches;
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    return this.#withDeadline(request.signal, async (signal) => {
      // With a context cache, the cache holds the system instruction and the shared prefix;
      // Gemini refuses a request that sets a system instruction beside a cachedContent.
      const cached = request.contextCache;
      const model = cached
        ? this.#sdk.getGenerativeModelFromCachedContent(
            cached.sdkCache as CachedContent,
            {},
            this.#baseUrl ? { baseUrl: this.#baseUrl } : {},
          )
        : this.#model(request.model);
      const result = await model.generateContent(
        {
          ...(cached ? {} : { systemInstruction: request.systemInstruction }),
          contents: [{ role: "user", parts: promptParts(request, cached !== undefined) }],
          generationConfig: request.json ? { responseMimeType: "application/json" } : {},
        },
        {
          signal,
          customHeaders: {
            "x-stock-ledger-analysis-id": request.analysisId,
            "x-stock-ledger-call-type": request.callType,
            "x-stock-ledger-attempt": String(request.attempt),
          },
        },
      );
      const response = result.response as unknown as RawResponse;
      rejectBlocked(response);
      return {
        text: answerText(response),
        usageMetadata: response.usageMetadata,
        finishReason: response.candidates?.[0]?.finishReason,
        modelVersion: response.modelVersion,
      };
    });
  }
}
