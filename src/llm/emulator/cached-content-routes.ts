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
import type { FaultBook } from "./faults.js";
import { pause, readBody } from "./http-io.js";
import type { EmulatorMethod } from "./protocol.js";
import { contentSchema, contentsSchema, type FileLookup, parseWith } from "./request.js";
import type { RequestLog } from "./request-log.js";
import { invalidArgument, type MethodTable, methodFor, ResourceCall } from "./resource-routes.js";
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

const ON_CACHES: MethodTable = {
  collection: { POST: "createCachedContent", GET: "listCachedContents" },
  item: { GET: "getCachedContent", PATCH: "updateCachedContent", DELETE: "deleteCachedContent" },
};

export function matchCacheRoute(httpMethod: string, path: string): CacheRoute | null {
  const match = CACHE_ROUTE.exec(path);
  if (!match) return null;
  const id = match[1] ?? null;
  const method = methodFor(ON_CACHES, httpMethod, id);
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
const PAGE_SIZES = { default: 100, max: 1000 };

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

const cacheErrorReply = (error: unknown): ErrorReply | null =>
  error instanceof CachedContentInputError ? invalidArgument(error.message) : null;

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
  const call = new ResourceCall(request, response, deps.log, started, {
    method: route.method,
    model: bareModel(created?.ok ? created.body.model : ((name && deps.store.find(name)?.model) ?? "")),
    cachedContent: name,
  });
  const { entry, reply, fail } = call;

  if (created && !created.ok) return fail(invalidArgument(created.message));
  if (call.answerFault(deps.faults)) return;

  return call.run(
    route.method,
    {
      createCachedContent: async () => {
        if (!created?.ok) return;
        await pause(deps.createLatencyMs, deps.signal);
        if (deps.signal.aborted || response.destroyed) return call.finish(0);
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
        reply(200, resource);
      },
      // Live caches, oldest first.
      listCachedContents: () =>
        call.replyPage(url, PAGE_SIZES, "cachedContents", () => deps.store.live(), resourceOf),
      getCachedContent: () => {
        const record = deps.store.find(name ?? "");
        return record ? reply(200, resourceOf(record)) : fail(cacheNotFound());
      },
      updateCachedContent: () => {
        if (!deps.store.find(name ?? "")) return fail(cacheNotFound());
        const parsed = parseWith(updateSchema, raw || "{}");
        if (!parsed.ok) return fail(invalidArgument(parsed.message));
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
      },
      deleteCachedContent: () => (deps.store.delete(name ?? "") ? reply(200, {}) : fail(cacheNotFound())),
    },
    cacheErrorReply,
  );
}
