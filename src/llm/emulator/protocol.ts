/**
 * Public types of the Gemini REST emulator and the slice of the wire protocol it speaks.
 * Wire shapes follow generativelanguage v1beta as @google/generative-ai 0.24 sends and parses it.
 */

import { CALL_TYPES, type CallType } from "../../ledger/call-record.js";

/** The stages the emulator answers: the product's call types, from one list. */
export const STAGES = CALL_TYPES;
export type Stage = CallType;

export const FAULT_KINDS = [
  "rate_limited",
  "server_error",
  "overloaded",
  "timeout",
  "reset",
  "non_json",
  "blocked_prompt",
  "blocked_candidate",
  "missing_usage",
  "bad_schema",
  "invalid_request",
  "auth",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Model calls, the cachedContents resource calls (explicit context caching), the Files API, then Batch Mode. */
export const EMULATOR_METHODS = [
  "generateContent",
  "countTokens",
  "createCachedContent",
  "getCachedContent",
  "listCachedContents",
  "updateCachedContent",
  "deleteCachedContent",
  "uploadFile",
  "getFile",
  "listFiles",
  "deleteFile",
  "downloadFile",
  "batchGenerateContent",
  "getBatch",
  "listBatches",
  "cancelBatch",
  "deleteBatch",
] as const;
export type EmulatorMethod = (typeof EMULATOR_METHODS)[number];

export const BATCH_STATES = [
  "BATCH_STATE_PENDING",
  "BATCH_STATE_RUNNING",
  "BATCH_STATE_SUCCEEDED",
  "BATCH_STATE_FAILED",
  "BATCH_STATE_CANCELLED",
  "BATCH_STATE_EXPIRED",
] as const;
export type BatchState = (typeof BATCH_STATES)[number];

/** How a batch ends once its delay has passed; "succeeded" runs its requests. */
export const BATCH_OUTCOMES = ["succeeded", "failed", "expired", "cancelled"] as const;
export type BatchOutcome = (typeof BATCH_OUTCOMES)[number];

/** The states a test may end a batch in (handle.endBatch, POST /_emulator/batches/{id}:end). */
export const BATCH_ENDINGS = ["FAILED", "EXPIRED", "CANCELLED"] as const;

export interface BatchEnding {
  state: (typeof BATCH_ENDINGS)[number];
  /** The Operation's error.message (FAILED only); default "Batch failed." */
  message?: string;
  /** The Operation's error.code, a gRPC code (FAILED only); default 13 (INTERNAL). */
  code?: number;
}

/** One batch as the emulator holds it (handle.batches(), GET /_emulator/batches). */
export interface BatchInfo {
  /** "batches/<id>" */
  name: string;
  displayName: string;
  /** As on the wire: "models/gemini-2.5-flash". */
  model: string;
  state: BatchState;
  requestCount: number;
  /** "files/<id>" of a JSONL input, null for inline requests. */
  inputFile: string | null;
  /** "files/<id>" of the JSONL output of a succeeded file batch, else null. */
  responsesFile: string | null;
  /** The Operation's error (google.rpc.Status) of a FAILED batch, else null. */
  error: { code: number; message: string } | null;
  /** ISO times. */
  createdAt: string;
  endedAt: string | null;
  /**
   * batchGenerateContent requests the server received with this display name, refused and
   * faulted ones included: above 1 means a client asked for the same batch again.
   */
  createCount: number;
}

/** A fault fires for a request when every field it gives matches; the first matching rule wins. */
export interface FaultRule {
  kind: FaultKind;
  callType?: string;
  attempt?: number;
  analysisId?: string;
  /**
   * Which endpoint the rule applies to; default generateContent (the billed calls). Methods other
   * than generateContent only suffer HTTP/transport faults (rate_limited, server_error, timeout...).
   */
  method?: EmulatorMethod;
  /** How many matching requests it fires for; default unlimited. */
  times?: number;
  /** RetryInfo delay for rate_limited; default 1. */
  retryDelaySeconds?: number;
  /** Chance (0..1) the rule fires for a matching request, drawn from a seeded PRNG. */
  probability?: number;
}

export interface EmulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Delay before generateContent answers (not before HTTP error faults). */
  latencyMs?: number;
  /** Extra 0..latencyJitterMs added to latencyMs, from the seeded PRNG. */
  latencyJitterMs?: number;
  faults?: FaultRule[];
  /** generateContent requests per rolling minute; beyond it → 429 with RetryInfo. */
  rpmLimit?: number;
  /** Length of the rpmLimit window; default one minute (tests shorten it). */
  rpmWindowMs?: number;
  /** Report thoughtsTokenCount for thinking models (2.5 / 3); default true. */
  thinking?: boolean;
  /** Seed of the PRNG behind fault probabilities and latency jitter; default 1. */
  seed?: number;
  /** Oldest log entries are dropped beyond this, so a long-running emulator stays bounded. */
  logLimit?: number;
  /** Delay before createCachedContent answers (Gemini takes a while to build a cache); default 0. */
  cacheCreateLatencyMs?: number;
  /** How long an uploaded file lives; default 48 h, as on Gemini. */
  fileTtlMs?: number;
  /** Bytes of uploaded files held; beyond it the least recently used are dropped. Default 256 MB. */
  maxFileBytes?: number;
  /** How long a batch stays pending/running before it completes (Gemini: up to 24 h); default 100 ms. */
  batchDelayMs?: number;
  /** A batch not done this long after creation ends EXPIRED (Gemini: 48 h); default 48 h. */
  batchExpiryMs?: number;
  /** How batches created from now on end once batchDelayMs has passed; default "succeeded". */
  batchOutcome?: BatchOutcome;
  /**
   * Batch requests use Gemini's implicit caching as live calls do: a request hits prompts answered
   * before it (earlier traffic, earlier requests of its batch) and is then a prefix for later
   * ones. Default true, as on Gemini; false bills every batch request uncached.
   */
  batchImplicitCache?: boolean;
  /** Gemini's implicit caching of repeated prompt prefixes, live and batch; default true. */
  implicitCache?: boolean;
}

/** One uploaded file as the emulator holds it (handle.files(), /_emulator/files). */
export interface UploadedFileInfo {
  /** "files/<id>" */
  name: string;
  uri: string;
  mimeType: string;
  sizeBytes: number;
  /** ISO time; a file past it is gone (403 on use, as Gemini answers). */
  expirationTime: string;
}

/** Request counts and body bytes per method since start (handle.traffic(), /_emulator/traffic). */
export interface EmulatorTraffic {
  /** Requests received, faulted and refused ones included. */
  requests: Partial<Record<EmulatorMethod, number>>;
  /** Request body bytes received. */
  requestBytes: Partial<Record<EmulatorMethod, number>>;
  /** Files stored by successful uploads. */
  filesUploaded: number;
}

/** One explicit cache as the emulator holds it (handle.cachedContents(), /_emulator/cached-contents). */
export interface CachedContentInfo {
  /** "cachedContents/<id>" */
  name: string;
  /** As on the wire: "models/gemini-2.5-flash". */
  model: string;
  /** Tokens of systemInstruction + contents, billed as cached on every use. */
  tokens: number;
  /** ISO time; a cache past it answers 404 (resource calls) or 403 (generateContent). */
  expireTime: string;
  /** True once deleteCachedContent removed it (deleted caches stay listed here, not on the wire). */
  deleted: boolean;
}

export interface EmulatorHandle {
  /** e.g. "http://127.0.0.1:41234", no trailing slash: pass as the SDK's `baseUrl`. */
  url: string;
  port: number;
  requestLog(): RequestLogEntry[];
  clearLog(): void;
  setFaults(rules: FaultRule[]): void;
  /** Every explicit cache created since start, oldest first, deleted and expired ones included. */
  cachedContents(): CachedContentInfo[];
  /** Live uploaded files, least recently used first. */
  files(): UploadedFileInfo[];
  traffic(): EmulatorTraffic;
  /** Every batch not deleted, oldest first, each brought up to date. */
  batches(): BatchInfo[];
  /** Ends a batch not done yet; throws BatchEndError for an unknown or already done batch. */
  endBatch(name: string, ending: BatchEnding): BatchInfo;
  /** How batches created from now on end (see EmulatorOptions.batchOutcome). */
  setBatchOutcome(outcome: BatchOutcome): void;
  close(): Promise<void>;
}

export interface RequestLogEntry {
  seq: number;
  at: string;
  method: EmulatorMethod;
  /** Bare model id ("gemini-2.5-flash"); "" for cachedContents calls that name no known model. */
  model: string;
  analysisId: string | null;
  callType: string | null;
  attempt: number | null;
  /** HTTP status sent; 0 when none was (timeout, reset). */
  status: number;
  /** Fault kind applied, "rpm_limit" for the emulator's own rate limit, else null. */
  fault: string | null;
  /** Exactly the usageMetadata object sent back ({totalTokenCount} for createCachedContent), or null. */
  usageMetadata: UsageMetadata | CachedContentUsage | null;
  /** "cachedContents/<id>" the request used or addressed (the new name for create); else null. */
  cachedContent: string | null;
  /** "files/<id>" a Files API request addressed (the new name for uploads); only on those entries. */
  file?: string | null;
  /** "batches/<id>": on Batch API calls and on each inline request a batch ran (method generateContent). */
  batch?: string | null;
  /** The display name a batchGenerateContent request asked for (null if none); only on those entries. */
  batchDisplayName?: string | null;
  durationMs: number;
}

export interface WirePart {
  text?: string;
  thought?: boolean;
  inlineData?: { mimeType?: string; data?: string };
  fileData?: { mimeType?: string; fileUri?: string };
}

export interface WireContent {
  role?: string;
  parts?: WirePart[];
}

export interface WireGenerationConfig {
  responseMimeType?: string;
  maxOutputTokens?: number;
  thinkingConfig?: { includeThoughts?: boolean; thinkingBudget?: number };
}

export interface GenerateContentBody {
  contents?: WireContent[];
  systemInstruction?: WireContent;
  generationConfig?: WireGenerationConfig;
  /** "cachedContents/<id>": the prompt is that cache's content followed by these contents. */
  cachedContent?: string;
  tools?: unknown[];
  toolConfig?: unknown;
}

/** The SDK wraps the request in generateContentRequest; the REST API also takes bare contents. */
export interface CountTokensBody extends GenerateContentBody {
  generateContentRequest?: GenerateContentBody;
}

export interface ModalityTokenCount {
  modality: "TEXT" | "IMAGE";
  tokenCount: number;
}

export interface UsageMetadata {
  promptTokenCount: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  totalTokenCount: number;
  promptTokensDetails: ModalityTokenCount[];
  candidatesTokensDetails?: ModalityTokenCount[];
  cacheTokensDetails?: ModalityTokenCount[];
}

/** CachedContent.usageMetadata: what a cache holds (and bills per hour of storage). */
export interface CachedContentUsage {
  totalTokenCount: number;
}

export interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: Record<string, unknown>[] };
}
