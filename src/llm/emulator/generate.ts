import { randomBytes } from "node:crypto";
import { composeAnswer, composeBadDecision, composeThoughtSummary } from "./answers.js";
import type { FaultKind, UsageMetadata, WirePart } from "./protocol.js";
import type { RequestDigest } from "./request.js";
import { seedFromText } from "./seed.js";
import {
  buildUsage,
  CHARS_PER_TOKEN,
  cacheDetails,
  type PromptTokens,
  promptDetails,
  thoughtsTokens,
  tokensForChars,
} from "./usage.js";

/**
 * Builds 200 replies for generateContent (normal answers and the content-level faults, which
 * are billed like real responses) and countTokens.
 */

export interface GenerateContext {
  model: string;
  digest: RequestDigest;
  stage: string | null;
  thinking: boolean;
  /** The billed prompt: a cachedContents entry's tokens plus the request's own. */
  prompt: PromptTokens;
  /** The part of it served from a cache (implicit or explicit); NO_TOKENS when none. */
  cached: PromptTokens;
}

export interface SuccessReply {
  body: string;
  contentType: string;
  usageMetadata: UsageMetadata | null;
}

/** What a misbehaving gateway in front of Gemini might return with a 200. */
export const NON_JSON_BODY =
  "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>" +
  "<body><h1>upstream connect error or disconnect/reset before headers</h1></body></html>";

const SAFETY_RATINGS = [
  { category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH", blocked: true },
  { category: "HARM_CATEGORY_HARASSMENT", probability: "NEGLIGIBLE" },
];

// Response ids only need to be unique, not unguessable: a random per-process prefix and a
// counter cost nothing, where 12 fresh random bytes per reply were ~3% of the emulator's CPU.
const RESPONSE_ID_PREFIX = randomBytes(9).toString("base64url");
let responseCount = 0;

function envelope(model: string, fields: Record<string, unknown>): string {
  return JSON.stringify({
    ...fields,
    modelVersion: model,
    responseId: `${RESPONSE_ID_PREFIX}${(responseCount++).toString(36)}`,
  });
}

export function generateReply(context: GenerateContext, fault: FaultKind | null): SuccessReply {
  const { model, digest, stage, prompt, cached } = context;
  if (fault === "non_json") return { body: NON_JSON_BODY, contentType: "text/html", usageMetadata: null };

  const seed = seedFromText(digest.text);
  const json = (body: string, usageMetadata: UsageMetadata | null): SuccessReply => ({
    body,
    contentType: "application/json; charset=UTF-8",
    usageMetadata,
  });

  // Blocked requests are still billed for the prompt, so they carry prompt-only usage.
  if (fault === "blocked_prompt") {
    const usage = buildUsage({ prompt, candidates: 0, thoughts: 0, cached });
    const promptFeedback = { blockReason: "SAFETY", safetyRatings: SAFETY_RATINGS };
    return json(envelope(model, { promptFeedback, usageMetadata: usage }), usage);
  }
  if (fault === "blocked_candidate") {
    const usage = buildUsage({ prompt, candidates: 0, thoughts: 0, cached });
    const candidate = { finishReason: "SAFETY", index: 0, safetyRatings: SAFETY_RATINGS };
    return json(envelope(model, { candidates: [candidate], usageMetadata: usage }), usage);
  }

  const composed =
    fault === "bad_schema" ? composeBadDecision(digest.text, seed) : composeAnswer(stage, digest, seed);
  // Like Gemini, an answer longer than maxOutputTokens is cut there (thoughts have their own budget).
  const limit = digest.maxOutputTokens;
  const truncated = limit !== undefined && tokensForChars(composed.length) > limit;
  const answer = truncated ? composed.slice(0, limit * CHARS_PER_TOKEN) : composed;
  const candidates = tokensForChars(answer.length);
  const thoughts = thoughtsTokens({
    seed,
    candidates,
    model,
    thinking: context.thinking,
    budget: digest.thinkingBudget,
  });
  const parts: WirePart[] = [];
  if (digest.includeThoughts && thoughts > 0) {
    parts.push({ text: composeThoughtSummary(stage, digest, seed), thought: true });
  }
  parts.push({ text: answer });
  const candidate = {
    content: { parts, role: "model" },
    finishReason: truncated ? "MAX_TOKENS" : "STOP",
    index: 0,
  };
  if (fault === "missing_usage") return json(envelope(model, { candidates: [candidate] }), null);
  const usage = buildUsage({ prompt, candidates, thoughts, cached });
  return json(envelope(model, { candidates: [candidate], usageMetadata: usage }), usage);
}

/** countTokens knows explicit caches (cachedContentTokenCount) but not implicit ones, like Gemini. */
export function countTokensReply(prompt: PromptTokens, cached: PromptTokens): SuccessReply {
  return {
    body: JSON.stringify({
      totalTokens: prompt.total,
      ...(cached.total > 0 ? { cachedContentTokenCount: cached.total } : {}),
      promptTokensDetails: promptDetails(prompt),
      ...(cached.total > 0 ? { cacheTokensDetails: cacheDetails(cached) } : {}),
    }),
    contentType: "application/json; charset=UTF-8",
    usageMetadata: null,
  };
}
