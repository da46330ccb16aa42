import {
  type CachedContent,
  type GenerationConfig,
  type GenerativeModel,
  GoogleGenerativeAI,
  type Part,
} from "@google/generative-ai";
import { GoogleAICacheManager, GoogleAIFileManager, type RequestOptions } from "@google/generative-ai/server";
import { type Logger, logger as processLogger } from "../logger.js";
import { withTimeout } from "../timeout.js";
import { isMissingFileError, LlmCallError, mapSdkError } from "./errors.js";
import { GeminiBatches } from "./gemini-batches.js";
import { answerText, type RawResponse, rejectBlocked } from "./gemini-response.js";
import { ImageUploads, type UploadedFile, type UploadedImage, type UploadTuning } from "./image-uploads.js";

class DeadlineError extends Error {
  override name = "AbortError";
}

/** For SDK calls that take no AbortSignal: stop waiting at the deadline (the request may go on). */
const deadline = <T>(work: Promise<T>, ms: number) =>
  withTimeout(work, ms, () => new DeadlineError(`no response within ${ms} ms`));

/**
 * The one file that knows @google/generative-ai (0.24, legacy but working on Node 20).
 * Swapping to @google/genai later touches only this adapter.
 */

/** An image shown with a prompt (base64 data): inline, or uploaded once when it has a digest. */
export interface InlineImage {
  mimeType: string;
  data: string;
  /** sha256 of `data`: equal digests, equal bytes, so one upload serves every call. */
  digest?: string | undefined;
}

/** How images with a digest travel: uploaded once through the Files API and referenced, or inline in every call. */
export type ChartTransport = "files" | "inline";

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
  /** Caps on what the call may bill beyond its prompt, so its worst case is known before it leaves. */
  bounds?: OutputBounds | undefined;
  /** Sent as headers so Gemini-protocol servers (the emulator, proxies) can attribute calls. */
  analysisId: string;
  callType: string;
  attempt: number;
  /** Cancels the call (worker shutdown); our own timeout is added on top. */
  signal?: AbortSignal;
  /** Read the system instruction and the prompt's prefix from this cache; send only the rest. */
  contextCache?: ContextCache | undefined;
  /** Awaited right before each generateContent request leaves, after uploads: the rate limiter's hook. */
  onSend?: (() => Promise<void>) | undefined;
}

/** generationConfig's caps: the answer's tokens, and the thinking budget (null: not sent). */
export interface OutputBounds {
  maxOutputTokens: number;
  thinkingBudget: number | null;
}

function generationConfig(request: GenerateRequest): GenerationConfig {
  const config: GenerationConfig & { thinkingConfig?: { thinkingBudget: number } } = {};
  if (request.json) config.responseMimeType = "application/json";
  if (request.bounds) {
    config.maxOutputTokens = request.bounds.maxOutputTokens;
    // The 0.24 SDK has no type for it, but passes generationConfig through as is.
    if (request.bounds.thinkingBudget !== null)
      config.thinkingConfig = { thinkingBudget: request.bounds.thinkingBudget };
  }
  return config;
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
  /** Default "files". */
  chartTransport?: ChartTransport | undefined;
  /** For the warnings of the image uploads; default the process logger. */
  logger?: Logger | undefined;
  /** Tuning of the upload cache (tests shorten the retry delay). */
  uploads?: UploadTuning | undefined;
}

export interface CountRequest {
  model: string;
  systemInstruction: string;
  prompt: string;
  signal?: AbortSignal;
}

/** Gemini Batch Mode (src/llm/gemini-batches.ts). */
export type BatchApi = Pick<GeminiBatches, "create" | "get" | "findByDisplayName" | "cancel">;

export interface LlmClient {
  generate(request: GenerateRequest): Promise<GenerateResult>;
  readonly batches: BatchApi;
  /** Prompt tokens as the provider counts them (free on Gemini; used for preflight estimates). */
  countTokens(request: CountRequest): Promise<number>;
  createContextCache(request: CreateCacheRequest): Promise<ContextCache>;
  deleteContextCache(cache: ContextCache): Promise<void>;
}

/** Images uploaded for this call, by digest: sent as file references, the rest inline. */
type SentFiles = ReadonlyMap<string, UploadedImage>;
const NO_FILES: SentFiles = new Map();

/** One request's deadline (see GeminiClient#deadline). */
interface CallDeadline {
  signal: AbortSignal;
  /** The SDK's error as an LlmCallError, a timeout when our deadline fired. */
  mapError(error: unknown): LlmCallError;
  /** Clears the timer and stops following the caller's signal; call once the request ends. */
  end(): void;
}

function promptParts(request: GenerateRequest, prefixCached: boolean, files: SentFiles): Part[] {
  const content = request.content ?? { prefix: request.prompt, images: [], suffix: "" };
  const parts: Part[] = [];
  if (!prefixCached && content.prefix) parts.push({ text: content.prefix });
  for (const image of content.images) {
    const file = image.digest === undefined ? undefined : files.get(image.digest);
    parts.push(
      file
        ? { fileData: { mimeType: file.mimeType, fileUri: file.fileUri } }
        : { inlineData: { mimeType: image.mimeType, data: image.data } },
    );
  }
  if (content.suffix) parts.push({ text: content.suffix });
  return parts.length > 0 ? parts : [{ text: "" }];
}

/**
 * The GenerateContentRequest a batch carries for `request`: the same system instruction, parts
 * and generationConfig as the live call, images inline (uploaded files may expire before a
 * batch runs) and no context cache.
 */
export function batchRequestBody(request: GenerateRequest): Record<string, unknown> {
  return {
    systemInstruction: { parts: [{ text: request.systemInstruction }] },
    contents: [{ role: "user", parts: promptParts(request, false, NO_FILES) }],
    generationConfig: generationConfig(request),
  };
}

/** The controllers of the calls in flight under each caller signal (see followAbort). */
const followers = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * Aborts `controller` when `outer` aborts, until the returned function is called. One listener
 * per outer signal, not one per call: hundreds of calls share the worker's shutdown signal, and
 * removing one listener of hundreds from an EventTarget walks its list.
 */
function followAbort(outer: AbortSignal, controller: AbortController): () => void {
  if (outer.aborted) {
    controller.abort();
    return () => {};
  }
  let calls = followers.get(outer);
  if (!calls) {
    const created = new Set<AbortController>();
    calls = created;
    followers.set(outer, created);
    outer.addEventListener(
      "abort",
      () => {
        for (const call of created) call.abort();
        created.clear();
      },
      { once: true },
    );
  }
  calls.add(controller);
  const following = calls;
  return () => following.delete(controller);
}

export class GeminiClient implements LlmClient {
  readonly #sdk: GoogleGenerativeAI;
  readonly #baseUrl: string | undefined;
  readonly #timeoutMs: number;
  readonly #models = new Map<string, GenerativeModel>();
  readonly #apiKey: string;
  readonly #logger: Logger;
  /** Null with the inline transport. */
  readonly #uploads: ImageUploads | null;
  #caches: GoogleAICacheManager | undefined;
  readonly batches: BatchApi;

  constructor(options: GeminiClientOptions) {
    this.#sdk = new GoogleGenerativeAI(options.apiKey);
    this.#apiKey = options.apiKey;
    // A trailing slash would make the SDK build "//v1beta/..." URLs.
    this.#baseUrl = options.baseUrl?.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs;
    this.batches = new GeminiBatches({
      apiKey: this.#apiKey,
      baseUrl: this.#baseUrl,
      timeoutMs: this.#timeoutMs,
    });
    this.#logger = (options.logger ?? processLogger).child({ component: "gemini-client" });
    this.#uploads =
      (options.chartTransport ?? "files") === "files"
        ? chartUploads(
            { apiKey: this.#apiKey, baseUrl: this.#baseUrl },
            { timeoutMs: this.#timeoutMs, logger: this.#logger, tuning: options.uploads },
          )
        : null;
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
    const deadline = this.#deadline(request.signal);
    try {
      // The SDK only listens for a later abort: a call under an aborted signal must not start.
      deadline.signal.throwIfAborted();
      const result = await this.#model(request.model).countTokens(
        {
          generateContentRequest: {
            // Unlike generateContent, the SDK passes this through as is: it must be a Content.
            systemInstruction: { role: "system", parts: [{ text: request.systemInstruction }] },
            contents: [{ role: "user", parts: [{ text: request.prompt }] }],
          },
        },
        { signal: deadline.signal },
      );
      return result.totalTokens;
    } catch (error) {
      throw deadline.mapError(error);
    } finally {
      deadline.end();
    }
  }

  /**
   * Our own deadline for one request: one controller per call, with a timer that `end` clears
   * (no SDK timer leaks); the caller's signal reaches it through `followAbort`, so nothing
   * accumulates on a long-lived shutdown signal. Used inline by each request rather than as a
   * wrapper taking a callback: a call suspended on the network holds one async frame fewer.
   */
  #deadline(outer: AbortSignal | undefined): CallDeadline {
    const controller = new AbortController();
    const timeoutMs = this.#timeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const unfollow = outer ? followAbort(outer, controller) : undefined;
    return {
      signal: controller.signal,
      mapError: (error) => mapSdkError(error, { timedOut, timeoutMs }),
      end: () => {
        clearTimeout(timer);
        unfollow?.();
      },
    };
  }

  /**
   * Creates an explicit context cache holding the system instruction and a shared prompt
   * prefix. The cache manager takes no AbortSignal, so our deadline stops the wait only.
   */
  async createContextCache(request: CreateCacheRequest): Promise<ContextCache> {
    const created = (await deadline(
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
    await deadline(this.#cacheManager().delete(cache.name), this.#timeoutMs).catch((error: unknown) => {
      throw mapSdkError(error, { timedOut: error instanceof DeadlineError, timeoutMs: this.#timeoutMs });
    });
  }

  #cacheManager(): GoogleAICacheManager {
    this.#caches ??= new GoogleAICacheManager(this.#apiKey, this.#baseUrl ? { baseUrl: this.#baseUrl } : {});
    return this.#caches;
  }

  /**
   * One call, as the ledger sees it. Charts go as file references when uploaded (inline when
   * the upload failed); if Gemini no longer holds a referenced file, the same request is sent
   * once more with the images inline. Only the answered request's usage is returned.
   */
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const deadline = this.#deadline(request.signal);
    const { signal } = deadline;
    try {
      signal.throwIfAborted(); // as in countTokens
      const images = request.content?.images ?? [];
      const files: SentFiles =
        images.length > 0 && this.#uploads
          ? (this.#uploads.readyFiles(images) ??
            (await this.#uploads.filesFor(
              images,
              { analysisId: request.analysisId, callType: request.callType },
              signal,
            )))
          : NO_FILES;
      try {
        return await this.#generateOnce(request, files, signal);
      } catch (error) {
        if (files.size === 0 || !isMissingFileError(error)) throw error;
        for (const [digest, file] of files) this.#uploads?.forget(digest, file.fileUri);
        this.#logger.warn(
          {
            analysisId: request.analysisId,
            callType: request.callType,
            fileUris: [...files.values()].map((file) => file.fileUri),
          },
          "uploaded chart no longer held by the provider; resending it inline",
        );
        return await this.#generateOnce(request, NO_FILES, signal);
      }
    } catch (error) {
      throw deadline.mapError(error);
    } finally {
      deadline.end();
    }
  }

  async #generateOnce(
    request: GenerateRequest,
    files: SentFiles,
    signal: AbortSignal,
  ): Promise<GenerateResult> {
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
    await request.onSend?.();
    const result = await model.generateContent(
      {
        ...(cached ? {} : { systemInstruction: request.systemInstruction }),
        contents: [{ role: "user", parts: promptParts(request, cached !== undefined, files) }],
        generationConfig: generationConfig(request),
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
  }
}

// Chart uploads through GoogleAIFileManager (a Buffer, one multipart POST to
// {base}/upload/v1beta/files): the SDK's other entry point, kept in this one adapter file.

export interface FileUploadTarget {
  apiKey: string;
  /** Without a trailing slash (the SDK would build "//upload/..."); undefined for Google's. */
  baseUrl: string | undefined;
}

export interface FileUpload {
  bytes: Buffer;
  mimeType: string;
  displayName: string;
  /** Attribution headers, as generateContent sends them. */
  headers: Record<string, string>;
  timeoutMs: number;
}

/**
 * One upload under our own deadline. uploadFile takes no per-call options, but the manager's
 * `signal` reaches fetch (its `timeout` would leave a timer behind), so each upload gets a
 * manager of its own. The timer is unref'd: an upload in flight never holds a stopping process.
 */
export async function uploadFile(target: FileUploadTarget, upload: FileUpload): Promise<UploadedFile> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), upload.timeoutMs);
  timer.unref();
  const options: RequestOptions & { signal: AbortSignal } = {
    ...(target.baseUrl ? { baseUrl: target.baseUrl } : {}),
    customHeaders: upload.headers,
    signal: controller.signal,
  };
  try {
    const response = await new GoogleAIFileManager(target.apiKey, options).uploadFile(upload.bytes, {
      mimeType: upload.mimeType,
      displayName: upload.displayName,
    });
    const file = (response as Partial<typeof response> | null)?.file;
    if (!file?.uri) throw new LlmCallError("malformed_output", "files upload answered without a file uri");
    return { uri: file.uri, mimeType: file.mimeType, expirationTime: file.expirationTime };
  } catch (error) {
    throw mapSdkError(error, { timedOut: controller.signal.aborted, timeoutMs: upload.timeoutMs });
  } finally {
    clearTimeout(timer);
  }
}

/** Uploads that take longer than this (or half the call's deadline) are given up: the call goes inline. */
const MAX_UPLOAD_MS = 10_000;

/** The client's chart upload cache, uploading through `uploadFile` and warning on failures. */
export function chartUploads(
  target: FileUploadTarget,
  options: {
    timeoutMs: number;
    logger: Logger;
    tuning?: UploadTuning | undefined;
  },
): ImageUploads {
  return new ImageUploads({
    ...options.tuning,
    upload: (image, context) =>
      uploadFile(target, {
        bytes: Buffer.from(image.data, "base64"),
        mimeType: image.mimeType,
        displayName: `stock-ledger chart ${image.digest.slice(0, 16)}`,
        headers: {
          "x-stock-ledger-analysis-id": context.analysisId,
          "x-stock-ledger-call-type": context.callType,
        },
        timeoutMs: Math.min(MAX_UPLOAD_MS, Math.ceil(options.timeoutMs / 2)),
      }),
    onUploadFailed: (error, image, context) =>
      options.logger.warn(
        { ...context, digest: image.digest, err: error instanceof Error ? error.message : String(error) },
        "chart upload failed; sending it inline",
      ),
  });
}
