import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import type { FaultBook } from "./faults.js";
import {
  FileExistsError,
  FileInputError,
  type FileRecord,
  type FileStore,
  fileResourceOf,
  type UploadInput,
} from "./files.js";
import { header, readBodyBytes, sendBytes } from "./http-io.js";
import { boundaryOf, parseMultipart } from "./multipart.js";
import type { EmulatorMethod } from "./protocol.js";
import { parseWith } from "./request.js";
import type { RequestLog } from "./request-log.js";
import { invalidArgument, type MethodTable, methodFor, ResourceCall } from "./resource-routes.js";
import { type ErrorReply, fileNotFound, googleError } from "./rpc-errors.js";
import type { TrafficCounters } from "./traffic.js";

/**
 * The Files API as @google/generative-ai/server's GoogleAIFileManager calls it:
 * POST {base}/upload/v1beta/files (multipart), GET {base}/v1beta/files[/{id}], DELETE {base}/v1beta/files/{id};
 * and GET {base}/download/v1beta/files/{id}:download?alt=media, how a batch's responses file is read.
 */

const FILE_ROUTE = /^\/(upload\/)?(v1[a-z0-9]*)\/files(?:\/([^/:]+))?$/;
const DOWNLOAD_ROUTE = /^\/download\/(v1[a-z0-9]*)\/files\/([^/:]+):download$/;
/** Far below Gemini's 2 GB a file, far above a chart. */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
const PAGE_SIZES = { default: 10, max: 100 };

export interface FileRoute {
  method: EmulatorMethod;
  /** "v1beta": the uri of an uploaded file carries it. */
  version: string;
  id: string | null;
}

/** Uploads take their own path prefix, as on Gemini. */
const ON_UPLOAD: MethodTable = { collection: { POST: "uploadFile" }, item: {} };
const ON_FILES: MethodTable = {
  collection: { GET: "listFiles" },
  item: { GET: "getFile", DELETE: "deleteFile" },
};

export function matchFileRoute(httpMethod: string, path: string): FileRoute | null {
  const download = DOWNLOAD_ROUTE.exec(path);
  if (download?.[1] && download[2]) {
    return httpMethod === "GET" ? { method: "downloadFile", version: download[1], id: download[2] } : null;
  }
  const match = FILE_ROUTE.exec(path);
  if (!match?.[2]) return null;
  const [, upload, version, id = null] = match;
  const method = methodFor(upload ? ON_UPLOAD : ON_FILES, httpMethod, id);
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

const badUpload = (message: string): ParsedUpload => ({ ok: false, reply: invalidArgument(message) });

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

/** Gemini serves the bytes of generated files only (batch outputs), and only as media. */
function downloadRefusal(request: IncomingMessage, record: FileRecord): ErrorReply | null {
  if (new URL(request.url ?? "/", "http://emulator").searchParams.get("alt") !== "media") {
    return invalidArgument("Download needs alt=media.");
  }
  if (record.source !== "GENERATED") {
    return invalidArgument(
      `Cannot download ${record.name}: only generated files can be downloaded, not uploaded ones.`,
    );
  }
  return null;
}

/** A clash of names is Gemini's 409; other bad input is a 400. */
function fileErrorReply(error: unknown): ErrorReply | null {
  if (error instanceof FileExistsError) return googleError(409, "ALREADY_EXISTS", error.message);
  return error instanceof FileInputError ? invalidArgument(error.message) : null;
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
  const call = new ResourceCall(request, response, deps.log, started, {
    method: route.method,
    model: "",
    cachedContent: null,
    file: route.id ? `files/${route.id}` : null,
  });
  if (call.answerFault(deps.faults)) return;

  const id = route.id ?? "";
  return call.run(
    route.method,
    {
      uploadFile: () => {
        const parsed = parseUpload(request, body ?? Buffer.alloc(0));
        if (!parsed.ok) return call.fail(parsed.reply);
        const apiRoot = `http://${header(request, "host") ?? "localhost"}/${route.version}`;
        const record = deps.files.upload({ ...parsed.input, apiRoot });
        call.entry.file = record.name;
        call.reply(200, { file: fileResourceOf(record) });
      },
      getFile: () => {
        const record = deps.files.find(id);
        return record ? call.reply(200, fileResourceOf(record)) : call.fail(fileNotFound(id));
      },
      deleteFile: () => (deps.files.delete(id) ? call.reply(200, {}) : call.fail(fileNotFound(id))),
      downloadFile: () => {
        const record = deps.files.find(id);
        if (!record) return call.fail(fileNotFound(id));
        const refusal = downloadRefusal(request, record);
        if (refusal) return call.fail(refusal);
        call.finish(200);
        sendBytes(response, 200, record.mimeType, record.bytes);
      },
      // Live files, least recently used first.
      listFiles: () =>
        call.replyPage(
          new URL(request.url ?? "/", "http://emulator"),
          PAGE_SIZES,
          "files",
          () => deps.files.live(),
          fileResourceOf,
        ),
    },
    fileErrorReply,
  );
}
