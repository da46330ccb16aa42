import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { batchInfoOf } from "./batch-wire.js";
import { BatchEndError, type BatchStore } from "./batches.js";
import { readBody, sendError, sendJson } from "./http-io.js";
import { BATCH_ENDINGS, BATCH_OUTCOMES, type BatchInfo } from "./protocol.js";
import { type ErrorReply, googleError } from "./rpc-errors.js";

/**
 * The /_emulator/ routes on batches, so a test in another process can see every batch and end
 * one as Gemini sometimes does (FAILED, EXPIRED, CANCELLED) without waiting for it:
 *   GET /_emulator/batches, POST /_emulator/batches/{id}:end, GET|PUT /_emulator/batch-outcome.
 */

const END_ROUTE = /^POST \/batches\/([^/:]+):end$/;

// Strict, so a typo in a test's request fails loudly instead of ending the batch some other way.
const endingSchema = z.strictObject({
  state: z
    .string()
    .transform((state) => state.replace(/^BATCH_STATE_/, ""))
    .pipe(z.enum(BATCH_ENDINGS)),
  message: z.string().min(1).optional(),
  code: z.number().int().min(1).max(16).optional(),
});
const outcomeSchema = z.strictObject({ outcome: z.enum(BATCH_OUTCOMES) });

export const batchInfos = (batches: BatchStore): BatchInfo[] =>
  batches.list().map((record) => batchInfoOf(record, batches));

/** Ends a batch; the in-process handle and the control route share it. */
export function endBatch(batches: BatchStore, name: string, ending: z.input<typeof endingSchema>): BatchInfo {
  return batchInfoOf(batches.end(name, endingSchema.parse(ending)), batches);
}

const invalid = (message: string): ErrorReply => googleError(400, "INVALID_ARGUMENT", message);

function parseJson<T>(
  schema: z.ZodType<T>,
  raw: string,
): { ok: true; value: T } | { ok: false; reply: ErrorReply } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reply: invalid("Body is not JSON.") };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reply: invalid(`${issue?.path.join(".") || "(body)"}: ${issue?.message}`) };
}

/** Answers a batch control route; false when `route` ("GET /batches") is not one. */
export async function handleBatchControl(
  request: IncomingMessage,
  response: ServerResponse,
  route: string,
  batches: BatchStore,
): Promise<boolean> {
  if (route === "GET /batches") {
    sendJson(response, 200, { batches: batchInfos(batches) });
    return true;
  }
  if (route === "GET /batch-outcome") {
    sendJson(response, 200, { outcome: batches.outcome });
    return true;
  }
  if (route === "PUT /batch-outcome") {
    const parsed = parseJson(outcomeSchema, await readBody(request));
    if (!parsed.ok) sendError(response, parsed.reply);
    else {
      batches.outcome = parsed.value.outcome;
      sendJson(response, 200, { outcome: batches.outcome });
    }
    return true;
  }
  const id = END_ROUTE.exec(route)?.[1];
  if (id === undefined) return false;
  const parsed = parseJson(endingSchema, await readBody(request));
  if (!parsed.ok) {
    sendError(response, parsed.reply);
    return true;
  }
  try {
    sendJson(response, 200, { batch: batchInfoOf(batches.end(id, parsed.value), batches) });
  } catch (error) {
    if (!(error instanceof BatchEndError)) throw error;
    const done = error.reason === "done";
    sendError(
      response,
      googleError(done ? 409 : 404, done ? "FAILED_PRECONDITION" : "NOT_FOUND", error.message),
    );
  }
  return true;
}
