import type { CallRecord } from "../../src/ledger/call-record.js";
import { priceCall } from "../../src/ledger/pricing.js";
import { usageFromMetadata } from "../../src/ledger/usage.js";

/** A call record priced from a usageMetadata, as the call runner would build it. */
export function callRecord(
  fields: Partial<CallRecord> & { callType: string; attempt: number; metadata?: Record<string, unknown> },
): CallRecord {
  const model = fields.model ?? "gemini-2.5-flash";
  const usage = fields.usage ?? usageFromMetadata(fields.metadata ?? {});
  return {
    model,
    status: "success",
    usage,
    cost: fields.cost ?? priceCall(model, usage),
    errorType: null,
    errorMessage: null,
    startedAt: new Date("2026-11-25T10:00:00Z"),
    durationMs: 100,
    inputChars: 0,
    outputChars: 0,
    rawUsage: fields.metadata ?? null,
    inputHash: null,
    ...fields,
  };
}
