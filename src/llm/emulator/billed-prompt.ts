import type { CachedContentStore } from "./cached-contents.js";
import type { GenerateContentBody } from "./protocol.js";
import { digestRequest, type RequestDigest, withCachedPrefix } from "./request.js";
import { type ErrorReply, googleError } from "./rpc-errors.js";
import { addTokens, type PromptTokens, promptTokens } from "./usage.js";

/**
 * What the model reads for one request: its own parts, or a cachedContents entry followed by
 * them. Refuses what Gemini refuses when a request names a cache.
 */

export interface BilledPrompt {
  digest: RequestDigest;
  prompt: PromptTokens;
  /** The cache's tokens when the request used cachedContent, else null (implicit caching may apply). */
  explicit: PromptTokens | null;
}

export type PromptResolution = ({ ok: true } & BilledPrompt) | { ok: false; reply: ErrorReply };

export function resolvePrompt(
  model: string,
  body: GenerateContentBody,
  store: CachedContentStore,
): PromptResolution {
  const own = digestRequest(body);
  if (body.cachedContent === undefined) {
    return { ok: true, digest: own, prompt: promptTokens(own), explicit: null };
  }
  if (
    body.systemInstruction !== undefined ||
    (body.tools?.length ?? 0) > 0 ||
    body.toolConfig !== undefined
  ) {
    return {
      ok: false,
      reply: googleError(
        400,
        "INVALID_ARGUMENT",
        "CachedContent can not be used with GenerateContent request setting system_instruction, tools or tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request.",
      ),
    };
  }
  const record = store.find(body.cachedContent);
  if (!record) {
    // Gemini answers a deleted or expired cache on generateContent with 403, not 404.
    return {
      ok: false,
      reply: googleError(403, "PERMISSION_DENIED", "CachedContent not found (or permission denied)"),
    };
  }
  if (record.model.replace(/^(?:models|tunedModels)\//, "") !== model) {
    return {
      ok: false,
      reply: googleError(
        400,
        "INVALID_ARGUMENT",
        `Model used by GenerateContent request (models/${model}) and CachedContent (${record.model}) has to be the same.`,
      ),
    };
  }
  return {
    ok: true,
    digest: withCachedPrefix(record.digest, own),
    prompt: addTokens(record.tokens, promptTokens(own)),
    explicit: record.tokens,
  };
}
