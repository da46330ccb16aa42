import { setMaxListeners } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { logger } from "../../logger.js";
import { batchInfos, endBatch } from "./batch-control.js";
import { type BatchRouteDeps, handleBatches, matchBatchRoute } from "./batch-routes.js";
import { createBatchStore } from "./batch-runner.js";
import { type BatchStore, DEFAULT_BATCH_DELAY_MS, DEFAULT_BATCH_EXPIRY_MS } from "./batches.js";
import { resolvePrompt } from "./billed-prompt.js";
import { type CacheRouteDeps, handleCachedContents, matchCacheRoute } from "./cached-content-routes.js";
import { CachedContentStore, cacheNameOf } from "./cached-contents.js";
import { CONTROL_PREFIX, type ControlState, handleControl } from "./control.js";
import { applyTransportFault } from "./fault-reply.js";
import { FaultBook } from "./faults.js";
import { type FileRouteDeps, handleFiles, matchFileRoute } from "./file-routes.js";
import { DEFAULT_FILE_TTL_MS, DEFAULT_MAX_FILE_BYTES, FileStore } from "./files.js";
import { countTokensReply, type GenerateContext, generateReply, NON_JSON_BODY } from "./generate.js";
import {
  attemptOf,
  BodyTooLargeError,
  clientUrl,
  header,
  pause,
  readBodyBytes,
  sendBody,
  sendError,
} from "./http-io.js";
import { ImplicitCache } from "./implicit-cache.js";
import type { EmulatorHandle, EmulatorOptions, FaultRule } from "./protocol.js";
import { RpmLimiter } from "./rate-limit.js";
import { parseCountTokensBody, parseGenerateContentBody } from "./request.js";
import { RequestLog } from "./request-log.js";
import { type ErrorReply, googleError, rateLimited } from "./rpc-errors.js";
import { createRandom, type Random } from "./seed.js";
import { TrafficCounters } from "./traffic.js";
import { NO_TOKENS } from "./usage.js";

const log = logger.child({ component: "gemini-emulator" });

// /v1beta/models/gemini-2.5-flash:generateContent (any API version; tuned models too)
const MODEL_ROUTE = /^\/(v1[a-z0-9]*)\/((?:models|tunedModels)\/[^/:]+):(generateContent|countTokens)$/;

type ModelMethod = "generateContent" | "countTokens";

/** One emulator instance: its server, request log, faults, caches and rate limit. */
class Emulator {
  readonly #server: Server;
  readonly #log: RequestLog;
  readonly #faults: FaultBook;
  readonly #implicit = new ImplicitCache();
  readonly #store = new CachedContentStore();
  readonly #files: FileStore;
  readonly #traffic = new TrafficCounters();
  readonly #cacheDeps: CacheRouteDeps;
  readonly #fileDeps: FileRouteDeps;
  readonly #batchDeps: BatchRouteDeps;
  readonly #batches: BatchStore;
  readonly #limiter: RpmLimiter | null;
  readonly #jitter: Random;
  readonly #lifetime = new AbortController();
  readonly #control: ControlState;
  #closing: Promise<void> | null = null;

  constructor(private readonly options: EmulatorOptions) {
    const seed = options.seed ?? 1;
    this.#log = new RequestLog(options.logLimit);
    this.#faults = new FaultBook(options.faults ?? [], seed);
    this.#limiter =
      options.rpmLimit !== undefined ? new RpmLimiter(options.rpmLimit, Date.now, options.rpmWindowMs) : null;
    this.#jitter = createRandom(seed ^ 0x68e31da4);
    this.#files = new FileStore({
      ttlMs: options.fileTtlMs ?? DEFAULT_FILE_TTL_MS,
      maxBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    });
    this.#fileDeps = { files: this.#files, log: this.#log, faults: this.#faults, traffic: this.#traffic };
    this.#batches = createBatchStore(
      {
        delayMs: options.batchDelayMs ?? DEFAULT_BATCH_DELAY_MS,
        expiryMs: options.batchExpiryMs ?? DEFAULT_BATCH_EXPIRY_MS,
        outcome: options.batchOutcome ?? "succeeded",
      },
      {
        log: this.#log,
        faults: this.#faults,
        store: this.#store,
        files: this.#files,
        thinking: options.thinking ?? true,
        implicit:
          options.batchImplicitCache === false || options.implicitCache === false ? null : this.#implicit,
      },
    );
    this.#batchDeps = {
      batches: this.#batches,
      files: this.#files,
      log: this.#log,
      faults: this.#faults,
      traffic: this.#traffic,
    };
    this.#control = {
      log: this.#log,
      faults: this.#faults,
      startedAt: Date.now(),
      cachedContents: () => this.#store.snapshot(),
      files: () => this.#files.snapshot(),
      traffic: () => this.#traffic.snapshot(this.#files.uploaded),
      batches: this.#batches,
    };
    this.#cacheDeps = {
      store: this.#store,
      files: this.#files.lookup,
      traffic: this.#traffic,
      log: this.#log,
      faults: this.#faults,
      signal: this.#lifetime.signal,
      createLatencyMs: options.cacheCreateLatencyMs ?? 0,
    };
    // Every request waiting out its latency listens on this one signal (and stops when done).
    setMaxListeners(0, this.#lifetime.signal);
    this.#server = createServer((request, response) => {
      this.#route(request, response).catch((error: unknown) => {
        const tooLarge = error instanceof BodyTooLargeError;
        if (!tooLarge) log.error({ err: error }, "emulator request failed");
        const reply = tooLarge
          ? googleError(400, "INVALID_ARGUMENT", (error as Error).message)
          : googleError(500, "INTERNAL", `Emulator error: ${(error as Error).message}`);
        sendError(response, reply);
      });
    });
  }

  async listen(): Promise<EmulatorHandle> {
    const host = this.options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.options.port ?? 0, host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const { port } = this.#server.address() as AddressInfo;
    const url = clientUrl(host, port);
    log.debug({ url }, "gemini emulator listening");
    return {
      url,
      port,
      requestLog: () => this.#log.list(),
      clearLog: () => {
        this.#log.clear();
      },
      setFaults: (rules: FaultRule[]) => this.#faults.set(rules),
      cachedContents: () => this.#store.snapshot(),
      files: () => this.#files.snapshot(),
      traffic: () => this.#traffic.snapshot(this.#files.uploaded),
      batches: () => batchInfos(this.#batches),
      endBatch: (name, ending) => endBatch(this.#batches, name, ending),
      setBatchOutcome: (outcome) => {
        this.#batches.outcome = outcome;
      },
      close: () => this.close(),
    };
  }

  /** Idempotent. Destroys open connections, hanging `timeout` requests included. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#lifetime.abort();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    if (path.startsWith(CONTROL_PREFIX)) return handleControl(request, response, path, this.#control);
    const cacheRoute = matchCacheRoute(request.method ?? "GET", path);
    if (cacheRoute) return handleCachedContents(request, response, cacheRoute, this.#cacheDeps);
    const fileRoute = matchFileRoute(request.method ?? "GET", path);
    if (fileRoute) return handleFiles(request, response, fileRoute, this.#fileDeps);
    const batchRoute = matchBatchRoute(request.method ?? "GET", path);
    if (batchRoute) return handleBatches(request, response, batchRoute, this.#batchDeps);
    const match = MODEL_ROUTE.exec(path);
    if (request.method !== "POST" || !match?.[2] || !match[3]) {
      return sendError(
        response,
        googleError(404, "NOT_FOUND", `Method not found: ${request.method} ${path}`),
      );
    }
    const model = match[2].replace(/^(models|tunedModels)\//, "");
    return this.#modelCall(request, response, model, match[3] as ModelMethod);
  }

  async #modelCall(
    request: IncomingMessage,
    response: ServerResponse,
    model: string,
    method: ModelMethod,
  ): Promise<void> {
    const started = performance.now();
    // Taken on arrival: prompts answered while this one is in flight cannot serve it from cache.
    const arrival = this.#implicit.mark();
    const bytes = await readBodyBytes(request);
    this.#traffic.record(method, bytes.length);
    const raw = bytes.toString("utf8");
    const parsed = method === "generateContent" ? parseGenerateContentBody(raw) : parseCountTokensBody(raw);
    const resolved = parsed.ok ? resolvePrompt(model, parsed.body, this.#store, this.#files.lookup) : null;
    const named = parsed.ok ? parsed.body.cachedContent : undefined;
    const entry = this.#log.open({
      at: new Date().toISOString(),
      method,
      model,
      analysisId: header(request, "x-stock-ledger-analysis-id"),
      callType:
        header(request, "x-stock-ledger-call-type") ?? (resolved?.ok ? resolved.digest.stageFromText : null),
      attempt: attemptOf(request),
      status: 0,
      fault: null,
      usageMetadata: null,
      cachedContent: named === undefined ? null : cacheNameOf(named),
      durationMs: 0,
    });
    const finish = (status: number): void => {
      entry.status = status;
      entry.durationMs = Math.round(performance.now() - started);
      log.debug({ ...entry, usageMetadata: undefined }, "emulator request");
    };
    const fail = (reply: ErrorReply): void => {
      finish(reply.httpStatus);
      sendError(response, reply);
    };

    if (!parsed.ok) return fail(googleError(400, "INVALID_ARGUMENT", parsed.message));
    if (!resolved?.ok) return fail(resolved?.reply ?? googleError(400, "INVALID_ARGUMENT", "Bad request"));

    // The quota is checked at the front door, before any fault: a rejected call never reaches the model.
    const admission =
      method === "generateContent" && this.#limiter ? this.#limiter.admit() : { ok: true as const };
    if (!admission.ok) {
      entry.fault = "rpm_limit";
      return fail(
        rateLimited(admission.retryAfterSeconds, "Resource has been exhausted (e.g. check quota)."),
      );
    }

    const rule = this.#faults.match(entry);
    const kind = rule?.kind ?? null;
    entry.fault = kind;
    if (kind && applyTransportFault(kind, rule, request, response, finish)) return;

    const { digest, prompt, explicit } = resolved;
    if (method === "countTokens") {
      finish(200);
      if (kind === "non_json") return sendBody(response, 200, "text/html", NON_JSON_BODY);
      const reply = countTokensReply(prompt, explicit ?? NO_TOKENS);
      return sendBody(response, 200, reply.contentType, reply.body);
    }

    const cached =
      explicit ??
      (this.options.implicitCache === false
        ? NO_TOKENS
        : this.#implicit.lookup(model, digest.segments, prompt, arrival));
    // Latency stands for generation time, so it applies to answers, not to HTTP errors.
    const jitter = (this.options.latencyJitterMs ?? 0) * this.#jitter();
    await pause((this.options.latencyMs ?? 0) + jitter, this.#lifetime.signal);
    if (this.#lifetime.signal.aborted || response.destroyed) {
      finish(0);
      return;
    }
    const context: GenerateContext = {
      model,
      digest,
      stage: entry.callType,
      thinking: this.options.thinking ?? true,
      prompt,
      cached,
    };
    const reply = generateReply(context, kind);
    entry.usageMetadata = reply.usageMetadata;
    finish(200);
    sendBody(response, 200, reply.contentType, reply.body);
    // Answered: from now on this prompt is a prefix later requests can hit.
    if (explicit === null && kind !== "non_json") this.#implicit.remember(model, digest.segments);
  }
}

/** Starts the Gemini REST emulator; pass `handle.url` to the SDK as `baseUrl`. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  return new Emulator(options).listen();
}
