import {
  type GenerateContentRequest,
  type GenerationConfig,
  type GenerativeModel,
  GoogleGenerativeAI,
} from "@google/generative-ai";
import { GoogleAICacheManager } from "@google/generative-ai/server";
import { afterEach } from "vitest";
import { type EmulatorHandle, type EmulatorOptions, startEmulator } from "../../src/llm/emulator/index.js";

/** Shared by the emulator tests: the real SDK pointed at the emulator, as the app uses it. */

export interface CallIdentity {
  analysisId?: string;
  callType?: string;
  attempt?: number;
  model?: string;
  systemInstruction?: string;
}

export function modelFor(handle: EmulatorHandle, identity: CallIdentity = {}): GenerativeModel {
  const customHeaders: Record<string, string> = {};
  if (identity.analysisId) customHeaders["x-stock-ledger-analysis-id"] = identity.analysisId;
  if (identity.callType) customHeaders["x-stock-ledger-call-type"] = identity.callType;
  if (identity.attempt !== undefined) customHeaders["x-stock-ledger-attempt"] = String(identity.attempt);
  return new GoogleGenerativeAI("test-key").getGenerativeModel(
    {
      model: identity.model ?? "gemini-2.5-flash",
      ...(identity.systemInstruction ? { systemInstruction: identity.systemInstruction } : {}),
    },
    { baseUrl: handle.url, customHeaders },
  );
}

export function stagePrompt(ticker: string, close: number | null, extra = ""): string {
  const lines = [`Ticker: ${ticker}`, close === null ? "" : `Last close: ${close}`, "RSI(14): 56.1", extra];
  return lines.filter((line) => line !== "").join("\n");
}

/** generationConfig with the 2.5 thinking fields the 0.24 SDK types do not know yet. */
export function thinkingConfig(config: {
  json?: boolean;
  includeThoughts?: boolean;
  thinkingBudget?: number;
}): GenerationConfig {
  const thinking: Record<string, unknown> = {};
  if (config.includeThoughts !== undefined) thinking.includeThoughts = config.includeThoughts;
  if (config.thinkingBudget !== undefined) thinking.thinkingBudget = config.thinkingBudget;
  return {
    ...(config.json ? { responseMimeType: "application/json" } : {}),
    ...(Object.keys(thinking).length > 0 ? { thinkingConfig: thinking } : {}),
  } as GenerationConfig;
}

export function textRequest(text: string, generationConfig?: GenerationConfig): GenerateContentRequest {
  return {
    contents: [{ role: "user", parts: [{ text }] }],
    ...(generationConfig ? { generationConfig } : {}),
  };
}

export interface RawUsage {
  promptTokenCount: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  totalTokenCount: number;
  promptTokensDetails?: { modality: string; tokenCount: number }[];
  candidatesTokensDetails?: { modality: string; tokenCount: number }[];
  cacheTokensDetails?: { modality: string; tokenCount: number }[];
}

export interface RawResponse {
  candidates?: {
    content?: { parts?: { text?: string; thought?: boolean }[] };
    finishReason?: string;
  }[];
  promptFeedback?: { blockReason?: string };
  usageMetadata?: RawUsage;
  modelVersion?: string;
  responseId?: string;
}

/** The response as the wire carries it (the SDK's types lag behind Gemini 2.5's fields). */
export function raw(response: unknown): RawResponse {
  return response as RawResponse;
}

/** Answer text without thought parts, as the adapter must read it. */
export function answerOf(response: unknown): string {
  const parts = raw(response).candidates?.[0]?.content?.parts ?? [];
  return parts
    .filter((part) => part.thought !== true)
    .map((part) => part.text ?? "")
    .join("");
}

/** GoogleAICacheManager pointed at the emulator; headers let the request log tie calls to an analysis. */
export function cacheManagerFor(
  handle: EmulatorHandle,
  headers: Record<string, string> = {},
): GoogleAICacheManager {
  return new GoogleAICacheManager("test-key", { baseUrl: handle.url, customHeaders: headers });
}

/** A market-data block long enough (≈ rows × 13 tokens) to pass the 1024-token cache minimum. */
export function marketData(ticker: string, close: number, rows = 120): string {
  const bars = "2024-01-02,2874.35,2890.10,2860.00,2881.75,5123400\n".repeat(rows);
  return `Ticker: ${ticker}\nLast close: ${close}\nDaily bars (date,open,high,low,close,volume):\n${bars}`;
}

/**
 * One emulator per test, closed after it: `start(options)` inside the test, `current()` after.
 * Call at the top of a file.
 */
export function emulatorPerTest(): {
  start(options?: EmulatorOptions): Promise<EmulatorHandle>;
  current(): EmulatorHandle;
} {
  let handle: EmulatorHandle | null = null;
  afterEach(async () => {
    await handle?.close();
    handle = null;
  });
  return {
    async start(options = {}) {
      handle = await startEmulator(options);
      return handle;
    },
    current() {
      if (!handle) throw new Error("no emulator: call start() first");
      return handle;
    },
  };
}
