import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { applyTransportFault } from "./fault-reply.js";
import type { FaultBook } from "./faults.js";
import {
  FileExistsError,
  FileInputError,
  type FileStore,
  fileResourceOf,
  type UploadInput,
} from "./files.js";
import { NON_JSON_BODY } from "./generate.js";
import { attemptOf, header, readBodyBytes, sendBody, sendError, sendJson } from "./http-io.js";
import { boundaryOf, parseMultipart } from "./multipart.js";
import type { EmulatorMethod } from "./protocol.js";
import { parseWith } from "./request.js";
import type { RequestLog } from "./request-log.js";
import { type ErrorReply, fileNotFound, googleError } from "./rpc-errors.js";
import type { TrafficCounters } from "./traffic.js";

/**
 * The Files API as @google/generative-ai/server's GoogleAIFileManager calls it:
 * POST {base}/upload/v1beta/files (multipart), GET {base}/v1beta/files[/{id}], DELETE {base}/v1beta/files/{id}.
 */

const FILE_ROUTE = /^\/(upload\/)?(v1[a-z0-9]*)\/files(?:\/([^/:]+))?$/;
/** Far below Gemini's 2 GB a file, far above a chart. */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 10;

export interface FileRoute {
  method: EmulatorMethod;
  /** "v1beta": the uri of an uploaded file carries it. */
  version: string;
  id: string | null;
}

export function matchFileRoute(httpMethod: string, path: string): FileRoute | null {
  const match = FILE_ROUTE.exec(path);
  if (!match?.[2]) return null;
  const [, upload, version, id = null] = match;
  const method: EmulatorMethod | undefined = upload
    ? httpMethod === "POST" && id === null
      ? "uploadFile"
      : undefined
    : id === null
      ? httpMethod === "GET"
        ? "listFiles"
        : undefined
      : ({ GET: "getFile", DELETE: "deleteFile" } as Record<string, EmulatorMethod>)[httpMethod];
  return method ? { method, version, id } : null;
}

export interface FileRouteDeps {
  files: FileStore;
  log: RequestLog;
  faults: FaultBook;
  traffic: TrafficCounters;
}

const metadataSchema = z.looseObject({
  file: z
    .looseObject({
      mimeType: z.string().min(1).optional(),
      displayName: z.string().optional(),
      name: z.string().optional(),
    })
    .optional(),
});

type ParsedUpload = { ok: true; input: Omit<UploadInput, "apiRoot"> } | { ok: false; reply: ErrorReply };

const badUpload = (message: string): ParsedUpload => ({
  ok: false,
  reply: googleError(400, "INVALID_ARGUMENT", message),
});

/** A multipart upload: JSON metadata ({file: {mimeType, displayName, name}}), then the bytes. */
function parseUpload(request: IncomingMessage, body: Buffer): ParsedUpload {
  const protocol = header(request, "x-goog-upload-protocol");
  if (protocol !== "multipart") {
    return badUpload(
      `Unsupported upload protocol "${protocol ?? ""}": send X-Goog-Upload-Protocol: multipart.`,
    );
  }
  const boundary = boundaryOf(header(request, "content-type") ?? undefined);
  const parts = boundary ? parseMultipart(body, boundary) : null;
  const [first, second] = parts ?? [];
  if (!first) return badUpload("Upload body must be multipart/related: metadata, then the file's bytes.");
  // A lone part is the media, with no metadata.
  const media = second ?? first;
  const metadata = second
    ? parseWith(metadataSchema, first.body.toString("utf8"))
    : { ok: true as const, body: {} };
  if (!metadata.ok) return badUpload(metadata.message);
  const file = (metadata.body as z.infer<typeof metadataSchema>).file;
  const mimeType = file?.mimeType ?? media.headers["content-type"];
  if (!mimeType)
    return badUpload("Upload has no mime type: set file.mimeType or the media part's Content-Type.");
  if (media.body.length === 0) return badUpload("Upload has no bytes.");
  return {
    ok: true,
    // A copy, so the stored file does not pin the whole request body.
    input: { bytes: Buffer.from(media.body), mimeType, displayName: file?.displayName, name: file?.name },
  };
}

export async function handleFiles(
  request: IncomingMessage,
  response: ServerResponse,
  route: FileRoute,
  deps: FileRouteDeps,
): Promise<void> {
  const started = performance.now();
  const body = route.method === "uploadFile" ? await readBodyBytes(request, MAX_UPLOAD_BYTES) : null;
  deps.traffic.record(route.method, body?.length ?? 0);
  const entry = deps.log.open({
    at: new Date().toISOString(),
    method: route.method,
    model: "",
    analysisId: header(request, "x-stock-ledger-analysis-id"),
    callType: header(request, "x-stock-ledger-call-type"),
    attempt: attemptOf(request),
    status: 0,
    fault: null,
    usageMetadata: null,
    cachedContent: null,
    file: route.id ? `files/${route.id}` : null,
    durationMs: 0,
  });
  const finish = (status: number): void => {
    entry.status = status;
    entry.durationMs = Math.round(performance.now() - started);
  };
  const reply = (status: number, value: unknown): void => {
    finish(status);
    sendJson(response, status, value);
  };
  const fail = (error: ErrorReply): void => {
    finish(error.httpStatus);
    sendError(response, error);
  };

  const rule = deps.faults.match(entry);
  entry.fault = rule?.kind ?? null;
  if (rule && applyTransportFault(rule.kind, rule, request, response, finish)) return;
  if (rule?.kind === "non_json") {
    finish(200);
    return sendBody(response, 200, "text/html", NON_JSON_BODY);
  }

  const id = route.id ?? "";
  try {
    switch (route.method) {
      case "uploadFile": {
        const parsed = parseUpload(request, body ?? Buffer.alloc(0));
        if (!parsed.ok) return fail(parsed.reply);
        const apiRoot = `http://${header(request, "host") ?? "localhost"}/${route.version}`;
        const record = deps.files.upload({ ...parsed.input, apiRoot });
        entry.file = record.name;
        return reply(200, { file: fileResourceOf(record) });
      }
      case "getFile": {
        const record = deps.files.find(id);
        return record ? reply(200, fileResourceOf(record)) : fail(fileNotFound(id));
      }
      case "deleteFile":
        return deps.files.delete(id) ? reply(200, {}) : fail(fileNotFound(id));
      case "listFiles":
        return listFiles(request, deps.files, reply, fail);
      default:
        return fail(googleError(404, "NOT_FOUND", `Method not found: ${route.method}`));
    }
  } catch (error) {
    if (error instanceof FileExistsError) return fail(googleError(409, "ALREADY_EXISTS", error.message));
    if (!(error instanceof FileInputError)) throw error;
    fail(googleError(400, "INVALID_ARGUMENT", error.message));
  }
}

/** Live files, least recently used first; empty fields are omitted, as on Gemini. */
function listFiles(
  request: IncomingMessage,
  files: FileStore,
  reply: (status: number, value: unknown) => void,
  fail: (error: ErrorReply) => void,
): void {
  const url = new URL(request.url ?? "/", "http://emulator");
  const requested = Number(url.searchParams.get("pageSize") ?? DEFAULT_PAGE_SIZE);
  const pageSize = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : 0;
  const token = url.searchParams.get("pageToken");
  const offset = token ? Number(Buffer.from(token, "base64url").toString("utf8")) : 0;
  if (pageSize === 0 || !Number.isInteger(offset) || offset < 0) {
    fail(googleError(400, "INVALID_ARGUMENT", "Invalid pageSize or pageToken."));
    return;
  }
  const live = files.live();
  const page = live.slice(offset, offset + pageSize);
  const next = offset + pageSize < live.length ? String(offset + pageSize) : null;
  reply(200, {
    ...(page.length > 0 ? { files: page.map(fileResourceOf) } : {}),
    ...(next ? { nextPageToken: Buffer.from(next).toString("base64url") } : {}),
  });
}
