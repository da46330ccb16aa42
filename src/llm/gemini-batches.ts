import { z } from "zod";
import { LlmCallError, llmErrorForStatus, mapSdkError } from "./errors.js";
import type { RawResponse } from "./gemini-response.js";

/**
 * Gemini Batch Mode over REST (the 0.24 SDK has no batch methods): create a batch of inline
 * requests, read it back, find it by display name, cancel it. Each inline request carries its
 * key in `metadata`, and the responses come back with it.
 */

const DEFAULT_GEMINI_BASE_URL = "https://generativelanguage.googleapis.com";

export const BATCH_STATES = ["pending", "running", "succeeded", "failed", "cancelled", "expired"] as const;
export type BatchState = (typeof BATCH_STATES)[number];

export const isBatchDone = (state: BatchState): boolean =>
  state === "succeeded" || state === "failed" || state === "cancelled" || state === "expired";

/** One request of a batch: its key (to match the response) and its GenerateContentRequest. */
export interface BatchRequestItem {
  key: string;
  body: Record<string, unknown>;
  /** Echoed back with the response; the emulator reads analysisId, callType and attempt from it. */
  metadata?: Record<string, string | number>;
}

export interface BatchResponseItem {
  key: string | null;
  response?: RawResponse;
  error?: { code?: number; message?: string };
}

export interface BatchStatus {
  /** "batches/…" */
  name: string;
  displayName: string;
  state: BatchState;
  createTime: Date | null;
  endTime: Date | null;
  /** The batch-level error of a failed batch. */
  error: { code?: number; message?: string } | null;
  /** In request order; set once a succeeded batch's inline responses are in. */
  responses: BatchResponseItem[] | null;
}

export interface BatchTarget {
  apiKey: string;
  /** Without a trailing slash; undefined for Google's. */
  baseUrl: string | undefined;
  timeoutMs: number;
}

const STATE_OF: Record<string, BatchState> = {
  BATCH_STATE_PENDING: "pending",
  BATCH_STATE_RUNNING: "running",
  BATCH_STATE_SUCCEEDED: "succeeded",
  BATCH_STATE_FAILED: "failed",
  BATCH_STATE_CANCELLED: "cancelled",
  BATCH_STATE_EXPIRED: "expired",
  JOB_STATE_PENDING: "pending",
  JOB_STATE_RUNNING: "running",
  JOB_STATE_SUCCEEDED: "succeeded",
  JOB_STATE_FAILED: "failed",
  JOB_STATE_CANCELLED: "cancelled",
  JOB_STATE_EXPIRED: "expired",
};

const rpcStatus = z.looseObject({ code: z.number().optional(), message: z.string().optional() });
const inlined = z.looseObject({
  metadata: z.record(z.string(), z.unknown()).optional(),
  response: z.looseObject({}).optional(),
  error: rpcStatus.optional(),
});
const operation = z.looseObject({
  name: z.string(),
  done: z.boolean().optional(),
  error: rpcStatus.optional(),
  metadata: z
    .looseObject({
      name: z.string().optional(),
      displayName: z.string().optional(),
      state: z.string().optional(),
      createTime: z.string().optional(),
      endTime: z.string().optional(),
    })
    .optional(),
  response: z
    .looseObject({
      inlinedResponses: z.looseObject({ inlinedResponses: z.array(inlined).optional() }).optional(),
    })
    .optional(),
});
const listPage = z.looseObject({
  operations: z.array(operation).optional(),
  batches: z.array(operation).optional(),
  nextPageToken: z.string().optional(),
});

const dateOf = (value: string | undefined): Date | null => (value ? new Date(value) : null);

function statusOf(raw: unknown): BatchStatus {
  const parsed = operation.safeParse(raw);
  if (!parsed.success) throw new LlmCallError("malformed_output", "batch answer is not a batch operation");
  const op = parsed.data;
  const meta = op.metadata ?? {};
  const state =
    STATE_OF[meta.state ?? ""] ?? (op.error ? "failed" : op.done ? "succeeded" : ("pending" as BatchState));
  const items = op.response?.inlinedResponses?.inlinedResponses;
  return {
    name: meta.name ?? op.name,
    displayName: meta.displayName ?? "",
    state,
    createTime: dateOf(meta.createTime),
    endTime: dateOf(meta.endTime),
    error: op.error ?? null,
    responses: items
      ? items.map((item) => ({
          key: typeof item.metadata?.key === "string" ? item.metadata.key : null,
          ...(item.response ? { response: item.response as RawResponse } : {}),
          ...(item.error ? { error: item.error } : {}),
        }))
      : null,
  };
}

export class GeminiBatches {
  readonly #base: string;

  constructor(private readonly target: BatchTarget) {
    this.#base = `${target.baseUrl ?? DEFAULT_GEMINI_BASE_URL}/v1beta`;
  }

  /** Submits the requests as one batch; the answer is the batch as created (pending). */
  async create(request: {
    model: string;
    displayName: string;
    items: readonly BatchRequestItem[];
    signal?: AbortSignal | undefined;
  }): Promise<BatchStatus> {
    const body = {
      batch: {
        displayName: request.displayName,
        inputConfig: {
          requests: {
            requests: request.items.map((item) => ({
              request: item.body,
              metadata: { ...item.metadata, key: item.key },
            })),
          },
        },
      },
    };
    return statusOf(
      await this.#call("POST", `models/${request.model}:batchGenerateContent`, body, request.signal),
    );
  }

  async get(name: string, signal?: AbortSignal): Promise<BatchStatus> {
    return statusOf(await this.#call("GET", name, undefined, signal));
  }

  /** The batch with this display name, newest first; null when the provider holds none. */
  async findByDisplayName(displayName: string, signal?: AbortSignal): Promise<BatchStatus | null> {
    let pageToken: string | undefined;
    for (let page = 0; page < 100; page++) {
      const query = new URLSearchParams({ pageSize: "100", ...(pageToken ? { pageToken } : {}) });
      const parsed = listPage.safeParse(await this.#call("GET", `batches?${query}`, undefined, signal));
      if (!parsed.success) throw new LlmCallError("malformed_output", "batches.list answer is not a list");
      for (const op of parsed.data.operations ?? parsed.data.batches ?? []) {
        if (op.metadata?.displayName === displayName) return statusOf(op);
      }
      pageToken = parsed.data.nextPageToken;
      if (!pageToken) return null;
    }
    return null;
  }

  async cancel(name: string, signal?: AbortSignal): Promise<void> {
    await this.#call("POST", `${name}:cancel`, {}, signal);
  }

  async #call(method: string, path: string, body: unknown, outer?: AbortSignal): Promise<unknown> {
    const { timeoutMs } = this.target;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = outer ? AbortSignal.any([outer, deadline]) : deadline;
    let response: Response;
    try {
      response = await fetch(`${this.#base}/${path}`, {
        method,
        headers: {
          "x-goog-api-key": this.target.apiKey,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal,
      });
    } catch (error) {
      throw mapSdkError(error, { timedOut: deadline.aborted, timeoutMs });
    }
    const text = await response.text().catch(() => "");
    if (!response.ok) {
      let message = text.slice(0, 300);
      let details: Record<string, unknown>[] | undefined;
      try {
        const parsed = JSON.parse(text) as {
          error?: { message?: string; details?: Record<string, unknown>[] };
        };
        message = parsed.error?.message ?? message;
        details = parsed.error?.details;
      } catch {
        // not JSON: keep the text
      }
      throw llmErrorForStatus(response.status, `HTTP ${response.status}: ${message}`, details);
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw mapSdkError(error, { timedOut: false, timeoutMs });
    }
  }
}
