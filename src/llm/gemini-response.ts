import { LlmCallError } from "./errors.js";

/** Reading a generateContent response: the answer text, and billed responses with no usable answer. */

interface RawPart {
  text?: string;
  thought?: boolean;
}
export interface RawResponse {
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
export function answerText(response: RawResponse): string {
  const parts = response.candidates?.[0]?.content?.parts ?? [];
  return parts
    .filter((part) => part.thought !== true && typeof part.text === "string")
    .map((part) => part.text)
    .join("");
}

/** A billed response that carries no usable answer becomes a typed, usage-bearing error. */
export function rejectBlocked(response: RawResponse): void {
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
