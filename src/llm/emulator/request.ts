import { z } from "zod";
import type { CountTokensBody, GenerateContentBody, WireContent } from "./protocol.js";

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

const contentSchema = z.looseObject({
  role: z.string().optional(),
  parts: z.array(partSchema).optional(),
});

const generateContentSchema = z.looseObject({
  contents: z.array(contentSchema).optional(),
  systemInstruction: contentSchema.optional(),
  generationConfig: z
    .looseObject({
      responseMimeType: z.string().optional(),
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

function parseWith<T>(schema: z.ZodType<T>, raw: string): BodyResult<T> {
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

/** What the answer, usage and fault logic need to know about one request. */
export interface RequestDigest {
  /** All text parts joined in order (system instruction first): the seed and cache key. */
  text: string;
  /** Characters of the text parts themselves, without the joins. */
  textChars: number;
  imageCount: number;
  stageFromText: string | null;
  wantsJson: boolean;
  includeThoughts: boolean;
  thinkingBudget: number | undefined;
}

const STAGE_PATTERN = /Stage: ([a-z_]+)/;

function contentTexts(content: WireContent | undefined): string[] {
  return (content?.parts ?? []).flatMap((part) => (typeof part.text === "string" ? [part.text] : []));
}

function isImage(mimeType: string | undefined): boolean {
  return mimeType?.startsWith("image/") ?? false;
}

export function digestRequest(body: GenerateContentBody): RequestDigest {
  const systemTexts = contentTexts(body.systemInstruction);
  const userTexts = (body.contents ?? []).flatMap(contentTexts);
  const texts = [...systemTexts, ...userTexts];
  const imageCount = (body.contents ?? [])
    .flatMap((content) => content.parts ?? [])
    .filter((part) => isImage(part.inlineData?.mimeType) || isImage(part.fileData?.mimeType)).length;
  // The system instruction names the stage first; contents are the fallback.
  const stageMatch = STAGE_PATTERN.exec(systemTexts.join("\n")) ?? STAGE_PATTERN.exec(userTexts.join("\n"));
  const config = body.generationConfig;
  return {
    text: texts.join("\n"),
    textChars: texts.reduce((sum, text) => sum + text.length, 0),
    imageCount,
    stageFromText: stageMatch?.[1] ?? null,
    wantsJson: config?.responseMimeType === "application/json",
    includeThoughts: config?.thinkingConfig?.includeThoughts === true,
    thinkingBudget: config?.thinkingConfig?.thinkingBudget,
  };
}
