import { createHash } from "node:crypto";
import { z } from "zod";
import { inlineImageTokens, TOKENS_PER_IMAGE } from "../image-tokens.js";
import type { CountTokensBody, GenerateContentBody, WireContent, WirePart } from "./protocol.js";

/**
 * Reading what a generateContent / countTokens request asks for. The schemas are loose on
 * purpose: the SDK sends fields we ignore (safetySettings, tools...), and Gemini accepts them.
 */

const partSchema = z.looseObject({
  text: z.string().optional(),
  thought: z.boolean().optional(),
  inlineData: z.looseObject({ mimeType: z.string().optional(), data: z.string().optional() }).optional(),
  fileData: z.looseObject({ mimeType: z.string().optional(), fileUri: z.string().optional() }).optional(),
});

export const contentSchema = z.looseObject({
  role: z.string().optional(),
  parts: z.array(partSchema).optional(),
});

export const contentsSchema = z.array(contentSchema);

const generateContentSchema = z.looseObject({
  contents: contentsSchema.optional(),
  systemInstruction: contentSchema.optional(),
  cachedContent: z.string().min(1).optional(),
  tools: z.array(z.unknown()).optional(),
  toolConfig: z.unknown().optional(),
  generationConfig: z
    .looseObject({
      responseMimeType: z.string().optional(),
      maxOutputTokens: z.number().int().positive().optional(),
      thinkingConfig: z
        .looseObject({ includeThoughts: z.boolean().optional(), thinkingBudget: z.number().optional() })
        .optional(),
    })
    .optional(),
});

const countTokensSchema = generateContentSchema.extend({
  generateContentRequest: generateContentSchema.optional(),
});

export type BodyResult<T> = { ok: true; body: T } | { ok: false; message: string };

export function parseWith<T>(schema: z.ZodType<T>, raw: string): BodyResult<T> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, message: "Invalid JSON payload received." };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      message: `Invalid JSON payload received. ${issue?.path.join(".")}: ${issue?.message}`,
    };
  }
  return { ok: true, body: parsed.data };
}

/** Like Gemini, a request without contents is refused (400 INVALID_ARGUMENT). */
export function parseGenerateContentBody(raw: string): BodyResult<GenerateContentBody> {
  const result = parseWith<GenerateContentBody>(generateContentSchema, raw);
  if (result.ok && !result.body.contents?.length) {
    return { ok: false, message: "* GenerateContentRequest.contents: contents is not specified" };
  }
  return result;
}

/** Unwraps the SDK's {generateContentRequest} envelope into the request it counts. */
export function parseCountTokensBody(raw: string): BodyResult<GenerateContentBody> {
  const result = parseWith<CountTokensBody>(countTokensSchema, raw);
  if (!result.ok) return result;
  const inner = result.body.generateContentRequest ?? result.body;
  if (!inner.contents?.length) {
    return { ok: false, message: "* CountTokensRequest.contents: contents is not specified" };
  }
  return { ok: true, body: inner };
}

/**
 * The prompt in order, as implicit caching compares it: each text part, and each image as a
 * digest of its bytes (an uploaded file's too), so equal images continue a shared prefix, with its tokens.
 */
export type PromptSegment = string | ImageSegment;

export interface ImageSegment {
  image: string;
  /** Tile tokens (image-tokens.ts); equal images have equal figures. */
  tokens: number;
}

/** What the answer, usage and fault logic need to know about one request. */
export interface RequestDigest {
  /** All text parts joined in order (system instruction first): the seed of the answer. */
  text: string;
  /** Characters of the text parts themselves, without the joins. */
  textChars: number;
  /** Tokens of each image part in prompt order, so every count uses the same tiling rule. */
  imageTokens: number[];
  segments: PromptSegment[];
  stageFromText: string | null;
  wantsJson: boolean;
  includeThoughts: boolean;
  thinkingBudget: number | undefined;
  /** generationConfig.maxOutputTokens: the answer (thoughts apart) is cut there, finishReason MAX_TOKENS. */
  maxOutputTokens: number | undefined;
}

/** The prompt-bearing fields of a request or of a cachedContents entry. */
export interface PromptBody {
  systemInstruction?: WireContent;
  contents?: WireContent[];
  generationConfig?: GenerateContentBody["generationConfig"];
}

const STAGE_PATTERN = /Stage: ([a-z_]+)/;

function contentTexts(content: WireContent | undefined): string[] {
  return (content?.parts ?? []).flatMap((part) => (typeof part.text === "string" ? [part.text] : []));
}

function isImage(mimeType: string | undefined): boolean {
  return mimeType?.startsWith("image/") ?? false;
}

/** The identity of an image's bytes given as base64: equal bytes, equal key, however they were sent. */
export function imageKeyOf(base64: string): string {
  return createHash("sha256").update(base64).digest("base64url");
}

/** An uploaded file as a prompt reads it: its type, and the identity and tiles of its bytes. */
export interface FileImage {
  mimeType: string;
  key: string;
  tokens: number;
}

/** Resolves a fileData part's uri to the stored file, or null when there is none. */
export type FileLookup = (fileUri: string) => FileImage | null;

function segmentOf(part: WirePart, files: FileLookup | undefined): PromptSegment | null {
  if (typeof part.text === "string") return part.text;
  const { inlineData, fileData } = part;
  if (isImage(inlineData?.mimeType)) {
    const data = inlineData?.data ?? "";
    return { image: `${inlineData?.mimeType}:${imageKeyOf(data)}`, tokens: inlineImageTokens(data) };
  }
  if (!fileData) return null;
  // A stored file reads as its bytes would inline, so either transport bills and caches alike.
  const file = files?.(fileData.fileUri ?? "") ?? null;
  const mimeType = fileData.mimeType ?? file?.mimeType;
  if (!isImage(mimeType)) return null;
  if (file) return { image: `${mimeType}:${file.key}`, tokens: file.tokens };
  // No bytes to measure (callers refuse unknown files before this): one tile.
  return { image: `${mimeType}:${fileData.fileUri ?? ""}`, tokens: TOKENS_PER_IMAGE };
}

/** The fileData uris of a request's contents, in order. */
export function fileUrisOf(contents: readonly WireContent[] | undefined): string[] {
  return (contents ?? []).flatMap((content) =>
    (content.parts ?? []).flatMap((part) => (part.fileData ? [part.fileData.fileUri ?? ""] : [])),
  );
}

export function digestRequest(body: PromptBody, files?: FileLookup): RequestDigest {
  const systemTexts = contentTexts(body.systemInstruction);
  const userTexts = (body.contents ?? []).flatMap(contentTexts);
  const texts = [...systemTexts, ...userTexts];
  const parts = (body.contents ?? []).flatMap((content) => content.parts ?? []);
  const segments: PromptSegment[] = [...systemTexts];
  for (const part of parts) {
    const segment = segmentOf(part, files);
    if (segment !== null) segments.push(segment);
  }
  // The system instruction names the stage first; contents are the fallback.
  const stageMatch = STAGE_PATTERN.exec(systemTexts.join("\n")) ?? STAGE_PATTERN.exec(userTexts.join("\n"));
  const config = body.generationConfig;
  return {
    text: texts.join("\n"),
    textChars: texts.reduce((sum, text) => sum + text.length, 0),
    imageTokens: segments.flatMap((segment) => (typeof segment === "string" ? [] : [segment.tokens])),
    segments,
    stageFromText: stageMatch?.[1] ?? null,
    wantsJson: config?.responseMimeType === "application/json",
    includeThoughts: config?.thinkingConfig?.includeThoughts === true,
    thinkingBudget: config?.thinkingConfig?.thinkingBudget,
    maxOutputTokens: config?.maxOutputTokens,
  };
}

/**
 * A request served through a cachedContents entry: the model reads the cache, then the request.
 * The request's own text names the stage first (it is the part that differs per call).
 */
export function withCachedPrefix(cached: RequestDigest, own: RequestDigest): RequestDigest {
  return {
    ...own,
    text: `${cached.text}\n${own.text}`,
    textChars: cached.textChars + own.textChars,
    imageTokens: [...cached.imageTokens, ...own.imageTokens],
    segments: [...cached.segments, ...own.segments],
    stageFromText: own.stageFromText ?? cached.stageFromText,
  };
}
