import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import {
  type BatchRecord,
  BatchStore,
  batchNameOf,
  type InlinedRequest,
  type InlinedResponse,
  operationOf,
  type RpcStatus,
} from "./batches.js";
import { resolvePrompt } from "./billed-prompt.js";
import { type CachedContentStore, cacheNameOf } from "./cached-contents.js";
import type { FaultBook } from "./faults.js";
import { generateReply } from "./generate.js";
import { readBody } from "./http-io.js";
import type { EmulatorMethod, FaultKind } from "./protocol.js";
import { type FileLookup, parseGenerateContentBody } from "./request.js";
import type { RequestLog } from "./request-log.js";
import { invalidArgument, type MethodTable, methodFor, ResourceCall } from "./resource-routes.js";
import { type ErrorReply, googleError, httpFaultReply } from "./rpc-errors.js";
import type { TrafficCounters } from "./traffic.js";
import { NO_TOKENS } from "./usage.js";

/**
 * Gemini Batch Mode over REST: POST {base}/v1beta/models/{model}:batchGenerateContent with inline
 * requests, then GET/DELETE {base}/v1beta/batches/{id}, GET {base}/v1beta/batches and
 * POST {base}/v1beta/batches/{id}:cancel. Inline requests are answered by generateReply, the code
 * behind generateContent, so a batched request bills exactly the tokens of the same call made live.
 */

const CREATE_ROUTE = /^\/v1[a-z0-9]*\/((?:models|tunedModels)\/[^/:]+):batchGenerateContent$/;
const BATCH_ROUTE = /^\/v1[a-z0-9]*\/batches(?:\/([^/:]+))?(:cancel)?$/;

export interface BatchRoute {
  method: EmulatorMethod;
  /** The model for create ("models/x"), the batch id otherwise (null on list). */
  id: string | null;
}

const ON_BATCHES: MethodTable = {
  collection: { GET: "listBatches" },
  item: { GET: "getBatch", DELETE: "deleteBatch" },
};

export function matchBatchRoute(httpMethod: string, path: string): BatchRoute | null {
  const create = CREATE_ROUTE.exec(path);
  if (create?.[1]) return httpMethod === "POST" ? { method: "batchGenerateContent", id: create[1] } : null;
  const match = BATCH_ROUTE.exec(path);
  if (!match) return null;
  const id = match[1] ?? null;
  if (match[2]) return httpMethod === "POST" && id ? { method: "cancelBatch", id } : null;
  const method = methodFor(ON_BATCHES, httpMethod, id);
  return method ? { method, id } : null;
}

export interface BatchRouteDeps {
  batches: BatchStore;
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

type Parsed = { ok: true; displayName: string; requests: InlinedRequest[] } | { ok: false; message: string };

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
  const input = batch.input_config ?? batch.inputConfig;
  // Only inline requests in this slice; a JSONL input file needs the Files API wired in.
  if (!input?.requests)
    return { ok: false, message: "* GenerateContentBatch.input_config: requests is required" };
  const requests: InlinedRequest[] = [];
  for (const [index, item] of input.requests.requests.entries()) {
    const request = parseGenerateContentBody(JSON.stringify(item.request ?? {}));
    if (!request.ok) return { ok: false, message: `requests[${index}]: ${request.message}` };
    requests.push({ request: request.body, ...(item.metadata ? { metadata: item.metadata } : {}) });
  }
  return { ok: true, displayName: batch.display_name ?? batch.displayName ?? "", requests };
}

const GRPC_CODES: Record<string, number> = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
};

/** An HTTP error reply as the google.rpc.Status an inline response carries. */
function statusOf(reply: ErrorReply): RpcStatus {
  return { code: GRPC_CODES[reply.body.error.status] ?? 2, message: reply.body.error.message };
}

/**
 * What a fault becomes inside a batch: faults that would be an HTTP error, a hang, a reset or a
 * garbled body make that one request's error; content faults (blocked, bad_schema...) are answers.
 */
function faultError(kind: FaultKind, retryDelaySeconds: number | undefined): ErrorReply | null {
  if (kind === "timeout") return googleError(504, "DEADLINE_EXCEEDED", "Deadline exceeded.");
  if (kind === "reset") return googleError(503, "UNAVAILABLE", "The service is currently unavailable.");
  if (kind === "non_json") return googleError(500, "INTERNAL", "An internal error has occurred.");
  return httpFaultReply(kind, retryDelaySeconds);
}

const text = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);

export interface BatchRunnerDeps {
  log: RequestLog;
  faults: FaultBook;
  store: CachedContentStore;
  files: FileLookup;
  thinking: boolean;
}

/**
 * Answers a batch's inline requests one by one, each logged as a generateContent marked with its
 * batch. Identity (analysisId, callType, attempt) comes from the request's metadata, since inline
 * requests carry no headers. Implicit caching is left out so batch answers do not depend on live traffic.
 */
export function batchRunner(deps: BatchRunnerDeps): (batch: BatchRecord) => InlinedResponse[] {
  return (batch) =>
    batch.requests.map(({ request, metadata }): InlinedResponse => {
      const started = performance.now();
      const model = batch.model.replace(/^(?:models|tunedModels)\//, "");
      const resolved = resolvePrompt(model, request, deps.store, deps.files);
      const attempt = metadata?.attempt;
      const entry = deps.log.open({
        at: new Date().toISOString(),
        method: "generateContent",
        model,
        analysisId: text(metadata?.analysisId),
        callType: text(metadata?.callType) ?? (resolved.ok ? resolved.digest.stageFromText : null),
        attempt: typeof attempt === "number" && Number.isInteger(attempt) ? attempt : null,
        status: 0,
        fault: null,
        usageMetadata: null,
        cachedContent: request.cachedContent === undefined ? null : cacheNameOf(request.cachedContent),
        batch: batch.name,
        durationMs: 0,
      });
      const end = (status: number, item: { response: unknown } | { error: RpcStatus }): InlinedResponse => {
        entry.status = status;
        entry.durationMs = Math.round(performance.now() - started);
        return { ...(metadata ? { metadata } : {}), ...item };
      };
      if (!resolved.ok) return end(resolved.reply.httpStatus, { error: statusOf(resolved.reply) });
      const rule = deps.faults.match(entry);
      entry.fault = rule?.kind ?? null;
      const error = rule ? faultError(rule.kind, rule.retryDelaySeconds) : null;
      if (error) return end(error.httpStatus, { error: statusOf(error) });
      const reply = generateReply(
        {
          model,
          digest: resolved.digest,
          stage: entry.callType,
          thinking: deps.thinking,
          prompt: resolved.prompt,
          cached: resolved.explicit ?? NO_TOKENS,
        },
        rule?.kind ?? null,
      );
      entry.usageMetadata = reply.usageMetadata;
      return end(200, { response: JSON.parse(reply.body) });
    });
}

export function createBatchStore(
  timing: { delayMs: number; expiryMs: number },
  runner: BatchRunnerDeps,
): BatchStore {
  return new BatchStore(timing, batchRunner(runner));
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
  const { reply, fail } = call;
  if (call.answerFault(deps.faults)) return;

  return call.run(
    route.method,
    {
      batchGenerateContent: () => {
        const parsed = parseCreate(raw);
        if (!parsed.ok) return fail(invalidArgument(parsed.message));
        const record = deps.batches.create(model, parsed.displayName, parsed.requests);
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
