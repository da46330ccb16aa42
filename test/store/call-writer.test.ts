import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { priceCall } from "../../src/ledger/pricing.js";
import { ZERO_USAGE } from "../../src/ledger/usage.js";
import { logger } from "../../src/logger.js";
import { CallWriter } from "../../src/store/call-writer.js";
import { callRowFromRecord, listCalls } from "../../src/store/calls-repo.js";
import { callRecord } from "../helpers/call-records.js";
import { createTestDatabase, insertTestAnalysis, type TestDatabase } from "../helpers/services.js";

let db: TestDatabase;
let writer: CallWriter;

beforeAll(async () => {
  db = await createTestDatabase();
  writer = new CallWriter(db.sql, logger);
});
afterAll(async () => {
  await writer.drain();
  await db.drop();
});

const MODEL = "gemini-2.5-flash";
const USAGE = { promptTokenCount: 100, candidatesTokenCount: 20, totalTokenCount: 120 };

/** A start marker's row, as the call runner writes it before sending the call. */
function marker(analysisId: string, callType: string, attempt: number, startedAt: Date) {
  return callRowFromRecord(
    analysisId,
    callRecord({
      callType,
      attempt,
      model: MODEL,
      startedAt,
      status: "interrupted",
      usage: ZERO_USAGE,
      cost: priceCall(MODEL, ZERO_USAGE, startedAt),
      errorType: "interrupted",
      errorMessage: "the worker stopped before this call ended",
      durationMs: 0,
      inputChars: 5277,
    }),
    null,
  );
}

describe("CallWriter start markers", () => {
  it("is replaced by its closing row, and never replaces a closing row", async () => {
    const id = await insertTestAnalysis(db.sql, { stem: "cw", model: MODEL });
    const startedAt = new Date("2026-11-25T11:00:00.000Z");
    await writer.write(marker(id, "volume_analysis", 1, startedAt));
    const closing = callRowFromRecord(
      id,
      callRecord({ callType: "volume_analysis", attempt: 1, model: MODEL, startedAt, metadata: USAGE }),
      "answer",
    );
    await writer.write(closing);
    // A marker arriving late (a retried batch) must not undo the finished call.
    await writer.write(marker(id, "volume_analysis", 1, startedAt));
    const rows = await listCalls(db.sql, id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: "success",
      output: "answer",
      total_tokens: closing.total_tokens,
    });
  });

  it("commits markers and closing rows written in the same turn in one statement", async () => {
    const id = await insertTestAnalysis(db.sql, { stem: "cw", model: MODEL });
    const startedAt = new Date("2026-11-25T12:00:00.000Z");
    const closing = callRowFromRecord(
      id,
      callRecord({ callType: "reversal_patterns", attempt: 1, model: MODEL, startedAt, metadata: USAGE }),
      "answer",
    );
    await Promise.all([writer.write(marker(id, "continuation_levels", 1, startedAt)), writer.write(closing)]);
    const rows = await db.sql<{ call_type: string; status: string; xid: string }[]>`
      SELECT call_type, status, xmin::text AS xid FROM llm_calls WHERE analysis_id = ${id}
      ORDER BY call_type`;
    expect(rows.map((r) => [r.call_type, r.status])).toEqual([
      ["continuation_levels", "interrupted"],
      ["reversal_patterns", "success"],
    ]);
    expect(rows[0]?.xid).toBe(rows[1]?.xid);
  });
});
