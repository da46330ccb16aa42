import { z } from "zod";
import type { BatchRequest, InlinedResponse } from "./batches.js";
import { parseGenerateContentBody } from "./request.js";

/**
 * The JSONL files of a file batch: requests in, one `{"key", "request"}` a line, and answers out,
 * one `{"key", "response"}` or `{"key", "error"}` a line in request order, as Gemini writes them.
 */

export const RESPONSES_MIME_TYPE = "application/jsonl";

// The key is how a caller matches answers to requests, so a line without one is refused.
const lineSchema = z.looseObject({
  key: z.string().min(1),
  request: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

export type ParsedLines = { ok: true; requests: BatchRequest[] } | { ok: false; message: string };

export function parseRequestLines(bytes: Buffer, fileName: string): ParsedLines {
  const requests: BatchRequest[] = [];
  const refuse = (line: number, why: string): ParsedLines => ({
    ok: false,
    message: `${fileName} line ${line}: ${why}`,
  });
  for (const [index, text] of bytes.toString("utf8").split(/\r?\n/).entries()) {
    if (text.trim() === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return refuse(index + 1, "not JSON.");
    }
    const line = lineSchema.safeParse(json);
    if (!line.success) {
      const issue = line.error.issues[0];
      return refuse(index + 1, `${issue?.path.join(".") || "(line)"}: ${issue?.message}`);
    }
    const request = parseGenerateContentBody(JSON.stringify(line.data.request));
    if (!request.ok) return refuse(index + 1, request.message);
    const { key, metadata } = line.data;
    requests.push({ request: request.body, key, ...(metadata ? { metadata } : {}) });
  }
  return requests.length > 0
    ? { ok: true, requests }
    : { ok: false, message: `${fileName} holds no requests.` };
}

export function responseLines(
  requests: readonly BatchRequest[],
  responses: readonly InlinedResponse[],
): Buffer {
  const lines = responses.map((item, index) =>
    JSON.stringify({
      key: requests[index]?.key,
      ...("response" in item ? { response: item.response } : { error: item.error }),
    }),
  );
  return Buffer.from(`${lines.join("\n")}\n`);
}
