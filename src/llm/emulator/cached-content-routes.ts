import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { missingFile } from "./billed-prompt.js";
import {
  CachedContentInputError,
  type CachedContentStore,
  cacheNameOf,
  resourceOf,
} from "./cached-contents.js";
import { applyTransportFault } from "./fault-reply.js";
import type { FaultBook } from "./faults.js";
import { NON_JSON_BODY } from "./generate.js";
import { attemptOf, header, pause, readBody, sendBody, sendError, sendJson } from "./http-io.js";
import type { EmulatorMethod } from "./protocol.js";
import { contentSchema, contentsSchema, type FileLookup, parseWith } from "./request.js";
import type { RequestLog } from "./request-log.js";
import { type ErrorReply, googleError } from "./rpc-errors.js";
import type { TrafficCounters } from "./traffic.js";

/**
 * The cachedContents REST resource as @google/generative-ai/server's GoogleAICacheManager calls it:
 * POST/GET {base}/v1beta/cachedContents, GET/PATCH/DELETE {base}/v1beta/cachedContents/{id}.
 */

const CACHE_ROUTE = /^\/v1[a-z0-9]*\/cachedContents(?:\/([^/:]+))?$/;

export interface CacheRoute {
  method: EmulatorMethod;
  id: string | null;
}

const ON_COLLECTION: Record<string, EmulatorMethod> = {
  POST: "createCachedContent",
  GET: "listCachedContents",
};
const ON_ITEM: Record<string, EmulatorMethod> = {
  GET: "getCachedContent",
  PATCH: "updateCachedContent",
  DELETE: "deleteCachedContent",
};

export function matchCacheRoute(httpMethod: string, path: string): CacheRoute | null {
  const match = CACHE_ROUTE.exec(path);
  if (!match) return null;
  const id = match[1] ?? null;
  const method = (id ? ON_ITEM : ON_COLLECTION)[httpMethod];
  return method ? { method, id } : null;
}

const createSchema = z.looseObject({
  model: z.string().min(1),
  systemInstruction: contentSchema.optional(),
  contents: contentsSchema.optional(),
  ttl: z.string().optional(),
  expireTime: z.string().optional(),
  displayName: z.string().optional(),
});

const updateSchema = z.looseObject({ ttl: z.string().optional(), expireTime: z.string().optional() });
const UPDATABLE = new Set(["ttl", "expire_time", "expireTime"]);
const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;

export interface CacheRouteDeps {
  store: CachedContentStore;
  files: FileLookup;
  traffic: TrafficCounters;
  log: RequestLog;
  faults: FaultBook;
  signal: AbortSignal;
  createLatencyMs: number;
}

const bareModel = (model: string): string => model.replace(/^(?:models|tunedModels)\//, "");

export function cacheNotFound(): ErrorReply {
  return googleError(404, "NOT_FOUND", "CachedContent not found (or permission denied)");
}

export async function handleCachedContents(
  request: IncomingMessage,
  response: ServerResponse,
  route: CacheRoute,
  deps: CacheRouteDeps,
): Promise<void> {
  const started = performance.now();
  const url = new URL(request.url ?? "/", "http://emulator");
  const raw = request.method === "POST" || request.method === "PATCH" ? await readBody(request) : "";
  deps.traffic.record(route.method, Buffer.byteLength(raw));
  const name = route.id ? cacheNameOf(route.id) : null;
  const created = route.method === "createCachedContent" ? parseWith(createSchema, raw) : null;
  const entry = deps.log.open({
    at: new Date().toISOString(),
    method: route.method,
    model: bareModel(created?.ok ? created.body.model : ((name && deps.store.find(name)?.model) ?? "")),
    analysisId: header(request, "x-stock-ledger-analysis-id"),
    callType: header(request, "x-stock-ledger-call-type"),
    attempt: attemptOf(request),
    status: 0,
    fault: null,
    usageMetadata: null,
    cachedContent: name,
    durationMs: 0,
  });
  const finish = (status: number): void => {
    entry.status = status;
    entry.durationMs = Math.round(performance.now() - started);
  };
  const reply = (status: number, body: unknown): void => {
    finish(status);
    sendJson(response, status, body);
  };
  const fail = (error: ErrorReply): void => {
    finish(error.httpStatus);
    sendError(response, error);
  };

  if (created && !created.ok) return fail(googleError(400, "INVALID_ARGUMENT", created.message));
  const rule = deps.faults.match(entry);
  entry.fault = rule?.kind ?? null;
  if (rule && applyTransportFault(rule.kind, rule, request, response, finish)) return;
  if (rule?.kind === "non_json") {
    finish(200);
    return sendBody(response, 200, "text/html", NON_JSON_BODY);
  }

  try {
    switch (route.method) {
      case "createCachedContent": {
        if (!created?.ok) return;
        await pause(deps.createLatencyMs, deps.signal);
        if (deps.signal.aborted || response.destroyed) return finish(0);
        const body = created.body;
        const missing = missingFile(body.contents, deps.files);
        if (missing) return fail(missing);
        const model = body.model.includes("/") ? body.model : `models/${body.model}`;
        const record = deps.store.create({
          model,
          contents: body.contents ?? [],
          ...(body.systemInstruction ? { systemInstruction: body.systemInstruction } : {}),
          ...(body.displayName ? { displayName: body.displayName } : {}),
          expiry: { ttl: body.ttl, expireTime: body.expireTime },
          files: deps.files,
        });
        const resource = resourceOf(record);
        entry.model = bareModel(model);
        entry.cachedContent = record.name;
        entry.usageMetadata = resource.usageMetadata;
        return reply(200, resource);
      }
      case "listCachedContents":
        return listCaches(url, deps.store, reply, fail);
      case "getCachedContent": {
        const record = deps.store.find(name ?? "");
        return record ? reply(200, resourceOf(record)) : fail(cacheNotFound());
      }
      case "updateCachedContent": {
        if (!deps.store.find(name ?? "")) return fail(cacheNotFound());
        const parsed = parseWith(updateSchema, raw || "{}");
        if (!parsed.ok) return fail(googleError(400, "INVALID_ARGUMENT", parsed.message));
        const mask = url.searchParams.get("update_mask") ?? url.searchParams.get("updateMask");
        const fixed = mask?.split(",").find((field) => field !== "" && !UPDATABLE.has(field));
        if (fixed) {
          throw new CachedContentInputError(
            `Field "${fixed}" cannot be updated; only ttl and expire_time can.`,
          );
        }
        const expiry = { ttl: parsed.body.ttl, expireTime: parsed.body.expireTime };
        const record = deps.store.updateExpiry(name ?? "", expiry);
        return record ? reply(200, resourceOf(record)) : fail(cacheNotFound());
      }
      case "deleteCachedContent":
        return deps.store.delete(name ?? "") ? reply(200, {}) : fail(cacheNotFound());
      default:
        return fail(googleError(404, "NOT_FOUND", `Method not found: ${route.method}`));
    }
  } catch (error) {
    if (!(error instanceof CachedContentInputError)) throw error;
    fail(googleError(400, "INVALID_ARGUMENT", error.message));
  }
}

/** Live caches, oldest first; empty fields are omitted, so no caches is `{}` as on Gemini. */
function listCaches(
  url: URL,
  store: CachedContentStore,
  reply: (status: number, body: unknown) => void,
  fail: (error: ErrorReply) => void,
): void {
  const requested = Number(url.searchParams.get("pageSize") ?? DEFAULT_PAGE_SIZE);
  const pageSize = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_PAGE_SIZE) : 0;
  const token = url.searchParams.get("pageToken");
  const offset = token ? Number(Buffer.from(token, "base64url").toString("utf8")) : 0;
  if (pageSize === 0 || !Number.isInteger(offset) || offset < 0) {
    fail(googleError(400, "INVALID_ARGUMENT", "Invalid pageSize or pageToken."));
    return;
  }
  const live = store.live();
  const page = live.slice(offset, offset + pageSize);
  const next = offset + pageSize < live.length ? String(offset + pageSize) : null;
  reply(200, {
    ...(page.length > 0 ? { cachedContents: page.map(resourceOf) } : {}),
    ...(next ? { nextPageToken: Buffer.from(next).toString("base64url") } : {}),
  });
}
