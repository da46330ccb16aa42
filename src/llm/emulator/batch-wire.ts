import { type BatchRecord, type BatchStore, isDone } from "./batches.js";
import type { BatchInfo } from "./protocol.js";

/** A batch as the wire shows it (a long-running Operation whose metadata is the GenerateContentBatch), and as tests see it. */

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

/** Inline batches answer inline; file batches name the JSONL file holding their answers. */
function outputOf(record: BatchRecord): Record<string, unknown> | null {
  if (record.responsesFile) return { "@type": OUTPUT_TYPE, responsesFile: record.responsesFile };
  if (record.responses) {
    return { "@type": OUTPUT_TYPE, inlinedResponses: { inlinedResponses: record.responses } };
  }
  return null;
}

/**
 * The Operation that create, get and list return. Done batches carry `done: true`; succeeded ones
 * also their output, failed ones the Operation's error.
 */
export function operationOf(record: BatchRecord): Record<string, unknown> {
  const output = outputOf(record);
  return {
    name: record.name,
    metadata: batchResourceOf(record),
    ...(isDone(record.state) ? { done: true } : {}),
    ...(record.error ? { error: { ...record.error } } : {}),
    ...(output ? { response: output } : {}),
  };
}

export function batchInfoOf(record: BatchRecord, store: BatchStore): BatchInfo {
  return {
    name: record.name,
    displayName: record.displayName,
    model: record.model,
    state: record.state,
    requestCount: record.requests.length,
    inputFile: record.inputFile,
    responsesFile: record.responsesFile,
    error: record.error ? { ...record.error } : null,
    createdAt: iso(record.createdAt),
    endedAt: record.endedAt === null ? null : iso(record.endedAt),
    createCount: store.createCountOf(record.displayName),
  };
}
