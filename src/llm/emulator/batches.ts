import { randomBytes } from "node:crypto";
import type { GenerateContentBody } from "./protocol.js";

/**
 * Gemini Batch Mode's batches as the emulator holds them, and their wire form (a long-running
 * Operation whose metadata is the GenerateContentBatch). A batch's state is worked out when it is
 * read, from its age: no timers, so nothing outlives close() and tests decide when time passes.
 */

export const BATCH_STATES = [
  "BATCH_STATE_PENDING",
  "BATCH_STATE_RUNNING",
  "BATCH_STATE_SUCCEEDED",
  "BATCH_STATE_FAILED",
  "BATCH_STATE_CANCELLED",
  "BATCH_STATE_EXPIRED",
] as const;
export type BatchState = (typeof BATCH_STATES)[number];

export const DEFAULT_BATCH_DELAY_MS = 100;
/** Gemini expires a batch still pending or running after 48 hours. */
export const DEFAULT_BATCH_EXPIRY_MS = 48 * 60 * 60 * 1000;

/** One entry of inputConfig.requests.requests: the request and the caller's metadata (its key). */
export interface InlinedRequest {
  request: GenerateContentBody;
  metadata?: Record<string, unknown>;
}

/** google.rpc.Status, as an inline response's error (gRPC code, not HTTP). */
export interface RpcStatus {
  code: number;
  message: string;
}

/** One entry of output.inlinedResponses.inlinedResponses, in request order. */
export type InlinedResponse = { metadata?: Record<string, unknown> } & (
  | { response: unknown }
  | { error: RpcStatus }
);

export interface BatchRecord {
  /** "batches/<id>" */
  readonly name: string;
  /** As on the wire: "models/gemini-2.5-flash". */
  readonly model: string;
  readonly displayName: string;
  readonly requests: readonly InlinedRequest[];
  readonly createdAt: number;
  state: BatchState;
  updatedAt: number;
  endedAt: number | null;
  responses: InlinedResponse[] | null;
}

/** Answers a batch's inline requests, in order; the server supplies it (same code as generateContent). */
export type BatchRunner = (batch: BatchRecord) => InlinedResponse[];

export interface BatchTiming {
  delayMs: number;
  expiryMs: number;
  now?: () => number;
}

const DONE: ReadonlySet<BatchState> = new Set<BatchState>([
  "BATCH_STATE_SUCCEEDED",
  "BATCH_STATE_FAILED",
  "BATCH_STATE_CANCELLED",
  "BATCH_STATE_EXPIRED",
]);

export const isDone = (state: BatchState): boolean => DONE.has(state);

/** Accepts "batches/x" or a bare id, as the REST paths and SDKs pass either. */
export const batchNameOf = (idOrName: string): string =>
  idOrName.startsWith("batches/") ? idOrName : `batches/${idOrName}`;

export class BatchStore {
  readonly #batches = new Map<string, BatchRecord>();
  readonly #now: () => number;

  constructor(
    private readonly timing: BatchTiming,
    private readonly run: BatchRunner,
  ) {
    this.#now = timing.now ?? Date.now;
  }

  create(model: string, displayName: string, requests: readonly InlinedRequest[]): BatchRecord {
    const now = this.#now();
    const record: BatchRecord = {
      name: `batches/${randomBytes(9).toString("base64url").toLowerCase().replace(/[-_]/g, "0")}`,
      model,
      displayName,
      requests,
      createdAt: now,
      state: "BATCH_STATE_PENDING",
      updatedAt: now,
      endedAt: null,
      responses: null,
    };
    this.#batches.set(record.name, record);
    return record;
  }

  find(name: string): BatchRecord | undefined {
    const record = this.#batches.get(batchNameOf(name));
    return record ? this.#settle(record) : undefined;
  }

  /** Oldest first, each brought up to date. */
  list(): BatchRecord[] {
    return [...this.#batches.values()].map((record) => this.#settle(record));
  }

  /** A batch not done yet ends CANCELLED with no responses; a done one is left as it is. */
  cancel(name: string): BatchRecord | undefined {
    const record = this.find(name);
    if (record && !isDone(record.state)) this.#end(record, "BATCH_STATE_CANCELLED");
    return record;
  }

  delete(name: string): boolean {
    return this.#batches.delete(batchNameOf(name));
  }

  /** Moves a batch along by its age: expiry wins over completion, so a short expiry always shows. */
  #settle(record: BatchRecord): BatchRecord {
    if (isDone(record.state)) return record;
    const age = this.#now() - record.createdAt;
    if (age >= this.timing.expiryMs) {
      this.#end(record, "BATCH_STATE_EXPIRED");
    } else if (age >= this.timing.delayMs) {
      // Run when first seen done: fault rules in force then apply, as they would to a live call.
      record.responses = this.run(record);
      this.#end(record, "BATCH_STATE_SUCCEEDED");
    } else if (age >= this.timing.delayMs / 2 && record.state === "BATCH_STATE_PENDING") {
      record.state = "BATCH_STATE_RUNNING";
      record.updatedAt = this.#now();
    }
    return record;
  }

  #end(record: BatchRecord, state: BatchState): void {
    record.state = state;
    record.updatedAt = this.#now();
    record.endedAt = record.updatedAt;
  }
}

const BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch";
const OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput";

const iso = (ms: number): string => new Date(ms).toISOString();

/** BatchStats: int64 counts, so strings on the wire. */
function statsOf(record: BatchRecord): Record<string, string> {
  const total = record.requests.length;
  const failed = record.responses?.filter((item) => "error" in item).length ?? 0;
  const answered = record.responses?.length ?? 0;
  const pending = isDone(record.state) ? 0 : total;
  return {
    requestCount: String(total),
    successfulRequestCount: String(answered - failed),
    failedRequestCount: String(failed),
    pendingRequestCount: String(pending),
  };
}

/** The GenerateContentBatch resource (an Operation's metadata). */
export function batchResourceOf(record: BatchRecord): Record<string, unknown> {
  return {
    "@type": BATCH_TYPE,
    name: record.name,
    model: record.model,
    displayName: record.displayName,
    createTime: iso(record.createdAt),
    updateTime: iso(record.updatedAt),
    ...(record.endedAt !== null ? { endTime: iso(record.endedAt) } : {}),
    batchStats: statsOf(record),
    state: record.state,
  };
}

/**
 * The Operation that create, get and list return. Done batches carry `done: true`; succeeded ones
 * also their output, the inline responses in request order.
 */
export function operationOf(record: BatchRecord): Record<string, unknown> {
  const done = isDone(record.state);
  return {
    name: record.name,
    metadata: batchResourceOf(record),
    ...(done ? { done: true } : {}),
    ...(record.responses
      ? { response: { "@type": OUTPUT_TYPE, inlinedResponses: { inlinedResponses: record.responses } } }
      : {}),
  };
}
