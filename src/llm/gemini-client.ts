import { type GenerativeModel, GoogleGenerativeAI } from "@google/generative-ai";
import { LlmCallError, mapSdkError } from "./errors.js";

/**
 * The one file that knows @google/generative-ai (0.24, legacy but working on Node 20).
 * Swapping to @google/genai later touches only this adapter.
 */

export interface GenerateRequest {
  model: string;
  systemInstruction: string;
  prompt: string;
  /** Ask for `application/json` output (final_decision). */
  json?: boolean;
  /** Sent as headers so Gemini-protocol servers (the emulator, proxies) can attribute calls. */
  analysisId: string;
  callType: string;
  attempt: number;
  /** Cancels the call (worker shutdown); our own timeout is added on top. */
  signal?: AbortSignal;
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

  constructor(options: GeminiClientOptions) {
    this.#sdk = new GoogleGenerativeAI(options.apiKey);
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

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    return this.#withDeadline(request.signal, async (signal) => {
      const result = await this.#model(request.model).generateContent(
        {
          systemInstruction: request.systemInstruction,
          contents: [{ role: "user", parts: [{ text: request.prompt }] }],
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
