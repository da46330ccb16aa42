import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { parseRequestLines } from "./batch-files.js";
import { operationOf } from "./batch-wire.js";
import { type BatchRequest, type BatchStore, batchNameOf } from "./batches.js";
import type { FaultBook } from "./faults.js";
import { type FileStore, fileIdOf } from "./files.js";
import { header, readBody } from "./http-io.js";
import type { EmulatorMethod } from "./protocol.js";
import { parseGenerateContentBody } from "./request.js";
import type { RequestLog } from "./request-log.js";
import { invalidArgument, type MethodTable, methodFor, ResourceCall } from "./resource-routes.js";
import { type ErrorReply, fileNotFound, googleError } from "./rpc-errors.js";
import type { TrafficCounters } from "./traffic.js";

/**
 * Gemini Batch Mode over REST: POST {base}/v1beta/models/{model}:batchGenerateContent with inline
 * requests or a JSONL file uploaded through the Files API, then GET/DELETE {base}/v1beta/batches/{id},
 * GET {base}/v1beta/batches and POST {base}/v1beta/batches/{id}:cancel. Running them is batch-runner.ts.
 */

const CREATE_ROUTE = /^\/(v1[a-z0-9]*)\/((?:models|tunedModels)\/[^/:]+):batchGenerateContent$/;
const BATCH_ROUTE = /^\/v1[a-z0-9]*\/batches(?:\/([^/:]+))?(:cancel)?$/;

export interface BatchRoute {
  method: EmulatorMethod;
  /** The model for create ("models/x"), the batch id otherwise (null on list). */
  id: string | null;
  /** "v1beta" on create: a responses file's uri carries it. */
  version?: string;
}

const ON_BATCHES: MethodTable = {
  collection: { GET: "listBatches" },
  item: { GET: "getBatch", DELETE: "deleteBatch" },
};

export function matchBatchRoute(httpMethod: string, path: string): BatchRoute | null {
  const create = CREATE_ROUTE.exec(path);
  if (create?.[1] && create[2]) {
    return httpMethod === "POST"
      ? { method: "batchGenerateContent", id: create[2], version: create[1] }
      : null;
  }
  const match = BATCH_ROUTE.exec(path);
  if (!match) return null;
  const id = match[1] ?? null;
  if (match[2]) return httpMethod === "POST" && id ? { method: "cancelBatch", id } : null;
  const method = methodFor(ON_BATCHES, httpMethod, id);
  return method ? { method, id } : null;
}

export interface BatchRouteDeps {
  batches: BatchStore;
  files: FileStore;
  log: RequestLog;
  faults: FaultBook;
  traffic: TrafficCounters;
}

// REST takes proto field names in snake_case or camelCase alike; both are read here.
const inlinedSchema = z.looseObject({
  request: z.unknown(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
const inputSchema = z.looseObject({
  requests: z.looseObject({ requests: z.array(inlinedSchema).min(1) }).optional(),
  file_name: z.string().optional(),
  fileName: z.string().optional(),
});
const createSchema = z.looseObject({
  batch: z.looseObject({
    display_name: z.string().optional(),
    displayName: z.string().optional(),
    input_config: inputSchema.optional(),
    inputConfig: inputSchema.optional(),
  }),
});

/** Inline requests, or the name of the JSONL file to read them from. */
type Parsed =
  | { ok: true; displayName: string; requests: BatchRequest[]; fileName: null }
  | { ok: true; displayName: string; requests: null; fileName: string }
  | { ok: false; message: string };

function parseCreate(raw: string): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, message: "Invalid JSON payload received." };
  }
  const parsed = createSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      message: `Invalid JSON payload received. ${issue?.path.join(".")}: ${issue?.message}`,
    };
  }
  const { batch } = parsed.data;
  const displayName = batch.display_name ?? batch.displayName ?? "";
  const input = batch.input_config ?? batch.inputConfig;
  const fileName = input?.file_name ?? input?.fileName;
  if (input?.requests && fileName !== undefined) {
    return {
      ok: false,
      message: "* GenerateContentBatch.input_config: give requests or file_name, not both",
    };
  }
  if (fileName !== undefined) return { ok: true, displayName, requests: null, fileName };
  if (!input?.requests) {
    return { ok: false, message: "* GenerateContentBatch.input_config: requests or file_name is required" };
  }
  const requests: BatchRequest[] = [];
  for (const [index, item] of input.requests.requests.entries()) {
    const request = parseGenerateContentBody(JSON.stringify(item.request ?? {}));
    if (!request.ok) return { ok: false, message: `requests[${index}]: ${request.message}` };
    requests.push({ request: request.body, ...(item.metadata ? { metadata: item.metadata } : {}) });
  }
  return { ok: true, displayName, requests, fileName: null };
}

/** The display name a create request asks for, read leniently so refused and faulted creates are counted too. */
function displayNameOf(raw: string): string | null {
  try {
    const batch = (JSON.parse(raw) as { batch?: Record<string, unknown> } | null)?.batch;
    const name = batch?.display_name ?? batch?.displayName;
    return typeof name === "string" ? name : null;
  } catch {
    return null;
  }
}

type FileInput = { ok: true; file: string; requests: BatchRequest[] } | { ok: false; reply: ErrorReply };

/** A file batch's requests, read once at creation: a later change to the file does not reach the batch. */
function readInputFile(files: FileStore, fileName: string): FileInput {
  const file = files.find(fileName);
  if (!file) return { ok: false, reply: fileNotFound(fileIdOf(fileName) ?? fileName) };
  const lines = parseRequestLines(file.bytes, file.name);
  return lines.ok
    ? { ok: true, file: file.name, requests: lines.requests }
    : { ok: false, reply: invalidArgument(lines.message) };
}

const PAGE_SIZES = { default: 100, max: 1000 };
const batchNotFound = (): ErrorReply => googleError(404, "NOT_FOUND", "Batch not found.");

export async function handleBatches(
  request: IncomingMessage,
  response: ServerResponse,
  route: BatchRoute,
  deps: BatchRouteDeps,
): Promise<void> {
  const started = performance.now();
  const url = new URL(request.url ?? "/", "http://emulator");
  const raw = request.method === "POST" ? await readBody(request) : "";
  deps.traffic.record(route.method, Buffer.byteLength(raw));
  const creating = route.method === "batchGenerateContent";
  const name = !creating && route.id ? batchNameOf(route.id) : null;
  const model = creating ? (route.id ?? "") : ((name && deps.batches.find(name)?.model) ?? "");
  const call = new ResourceCall(request, response, deps.log, started, {
    method: route.method,
    model: model.replace(/^(?:models|tunedModels)\//, ""),
    cachedContent: null,
  });
  call.entry.batch = name;
  if (creating) {
    call.entry.batchDisplayName = displayNameOf(raw);
    deps.batches.noteCreateRequest(call.entry.batchDisplayName ?? "");
  }
  const { reply, fail } = call;
  if (call.answerFault(deps.faults)) return;

  return call.run(
    route.method,
    {
      batchGenerateContent: () => {
        const parsed = parseCreate(raw);
        if (!parsed.ok) return fail(invalidArgument(parsed.message));
        const input =
          parsed.fileName === null
            ? { ok: true as const, file: null, requests: parsed.requests }
            : readInputFile(deps.files, parsed.fileName);
        if (!input.ok) return fail(input.reply);
        const record = deps.batches.create({
          model,
          displayName: parsed.displayName,
          requests: input.requests,
          inputFile: input.file,
          apiRoot: `http://${header(request, "host") ?? "localhost"}/${route.version ?? "v1beta"}`,
        });
        call.entry.batch = record.name;
        reply(200, operationOf(record));
      },
      // All batches, oldest first: display names are how a caller finds its batch again.
      listBatches: () =>
        call.replyPage(url, PAGE_SIZES, "operations", () => deps.batches.list(), operationOf),
      getBatch: () => {
        const record = deps.batches.find(name ?? "");
        return record ? reply(200, operationOf(record)) : fail(batchNotFound());
      },
      cancelBatch: () => (deps.batches.cancel(name ?? "") ? reply(200, {}) : fail(batchNotFound())),
      deleteBatch: () => (deps.batches.delete(name ?? "") ? reply(200, {}) : fail(batchNotFound())),
    },
    () => null,
  );
}
