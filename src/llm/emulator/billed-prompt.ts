import type { CachedContentStore } from "./cached-contents.js";
import { fileIdOf } from "./files.js";
import type { GenerateContentBody, WireContent } from "./protocol.js";
import {
  digestRequest,
  type FileLookup,
  fileUrisOf,
  type RequestDigest,
  withCachedPrefix,
} from "./request.js";
import { type ErrorReply, fileNotFound, googleError } from "./rpc-errors.js";
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

/** Gemini refuses a prompt that names a file it does not hold; null when every file is there. */
export function missingFile(
  contents: readonly WireContent[] | undefined,
  files: FileLookup,
): ErrorReply | null {
  for (const uri of fileUrisOf(contents)) {
    if (files(uri)) continue;
    const id = fileIdOf(uri);
    return id === null
      ? googleError(400, "INVALID_ARGUMENT", `Invalid or unsupported file uri: ${uri}`)
      : fileNotFound(id);
  }
  return null;
}

export function resolvePrompt(
  model: string,
  body: GenerateContentBody,
  store: CachedContentStore,
  files: FileLookup,
): PromptResolution {
  const missing = missingFile(body.contents, files);
  if (missing) return { ok: false, reply: missing };
  const own = digestRequest(body, files);
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
