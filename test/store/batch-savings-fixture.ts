import { callRowsOf, type FinishedBatch, requestKey } from "../../src/analysis/batch/batch-responses.js";
import { TokenTracker } from "../../src/ledger/token-tracker.js";
import { type AnalysisRow, finalizeAnalysis, insertQueuedAnalysis } from "../../src/store/analyses-repo.js";
import type { BatchRequestRow } from "../../src/store/batches-repo.js";
import { callRowFromRecord, insertCalls, listCalls, recordFromRow } from "../../src/store/calls-repo.js";
import type { Sql } from "../../src/store/database.js";
import { callRecord } from "../helpers/call-records.js";

/**
 * A small ledger of batch and standard calls whose savings are worked out by hand, written as
 * the product writes them: batch rows by callRowsOf (the poller's ingest), the synchronous
 * fallback as a live call's row, then finalized through the tracker a run uses.
 *
 * bx-reliance RELIANCE gemini-2.5-flash, batch
 *   indicator_summary #1 batch, the request failed (no usage)                 saved 0
 *   indicator_summary #2 standard (fallback sync) 1,000 in, 200 out            saved NULL
 *   comprehensive_overview #1 batch 10,000 in (4,000 cached), 1,000 + 500 out
 *     standard 6000 × 0.30 + 4000 × 0.03 + 1500 × 2.50 = 5670 µ$
 *     batch    6000 × 0.15 + 4000 × 0.03 + 1500 × 1.25 = 2895 µ$              saved 0.002775
 *     cache at batch rates 4000 × (0.15 − 0.03) = 480 µ$ (standard rates would say 1080 µ$)
 *   final_decision #1 batch 2,000 in, 300 out
 *     standard 2000 × 0.30 + 300 × 2.50 = 1350 µ$, batch 675 µ$                saved 0.000675
 *   analysis saved 0.00345
 * bx-tcs TCS gemini-2.5-pro, batch
 *   volume_analysis #1 batch 250,000 in (50,000 cached), 1,000 out: long context
 *     long       200000 × 2.50 + 50000 × 0.25 + 1000 × 15  = 527500 µ$
 *     batch long 200000 × 1.25 + 50000 × 0.25 + 1000 × 7.5 = 270000 µ$         saved 0.2575
 *     cache at batch long-context rates 50000 × (1.25 − 0.25) = 0.05 USD
 * bx-infy INFY gemini-2.5-flash, standard
 *   indicator_summary #1 standard 1,000 in (500 cached), 100 out               saved NULL
 *     cache at standard rates 500 × (0.30 − 0.03) = 135 µ$
 * bx-wipro WIPRO mystery-model (no price), batch
 *   indicator_summary #1 batch 100 in, 10 out: unpriced                        saved NULL
 */
export const BATCH_FIXTURE = {
  reliance: "bx-reliance",
  tcs: "bx-tcs",
  infy: "bx-infy",
  wipro: "bx-wipro",
} as const;

const STAGE_TEXT = "A measured reading of the indicators: momentum is steady and volume confirms it.";
const DECISION = JSON.stringify({
  action: "BUY",
  confidence: 0.7,
  entry: 100,
  target: 120,
  stop_loss: 90,
  rationale: "trend intact",
});

interface RequestFixture {
  callType: string;
  /** Absent: the batch answered this request with an error. */
  usage?: Record<string, number>;
  text?: string;
}

function request(analysisId: string, model: string, callType: string): BatchRequestRow {
  return {
    analysis_id: analysisId,
    call_type: callType,
    attempt: 1,
    model,
    batch_display_name: "bx-batch",
    request: null,
    request_bytes: 100,
    input_chars: 400,
    input_hash: null,
    reserved_tokens: null,
    queued_at: new Date(),
  };
}

/** The rows a succeeded batch of these requests comes back as, through the poller's own code. */
function batchRows(analysisId: string, model: string, submittedAt: Date, requests: RequestFixture[]) {
  const rows = requests.map((r) => request(analysisId, model, r.callType));
  const batch: FinishedBatch = {
    state: "succeeded",
    submittedAt,
    endedAt: new Date(submittedAt.getTime() + 30_000),
    error: null,
    responses: requests.map((r, i) => {
      const key = requestKey(rows[i] as BatchRequestRow);
      if (!r.usage) return { key, error: { code: 500, message: "internal" } };
      return {
        key,
        response: {
          candidates: [{ content: { parts: [{ text: r.text ?? STAGE_TEXT }] }, finishReason: "STOP" }],
          usageMetadata: r.usage,
        },
      };
    }),
  };
  return callRowsOf(batch, rows);
}

async function insertAnalysis(sql: Sql, id: string, ticker: string, model: string, batch: boolean) {
  await insertQueuedAnalysis(sql, { id, ticker, model, batch });
}

/** Finalizes as a run does: the stored calls through a tracker, its totals and breakdown written. */
async function finalize(sql: Sql, id: string, ticker: string, model: string): Promise<AnalysisRow> {
  const tracker = new TokenTracker(id, ticker, model);
  for (const row of await listCalls(sql, id)) tracker.recordCall(recordFromRow(row));
  const row = await finalizeAnalysis(sql, {
    id,
    leaseOwner: null,
    status: "completed",
    totals: tracker.totals(),
    saved: tracker.saved(),
    breakdown: tracker.breakdown(),
    decision: null,
    error: null,
    marketDataSource: "sample",
  });
  if (!row) throw new Error(`analysis ${id} was not finalized`);
  return row;
}

/** Writes the fixture and finalizes its analyses (pending in the rollups until folded). */
export async function insertBatchFixture(sql: Sql, submittedAt: Date): Promise<void> {
  const { reliance, tcs, infy, wipro } = BATCH_FIXTURE;
  await insertAnalysis(sql, reliance, "RELIANCE", "gemini-2.5-flash", true);
  await insertAnalysis(sql, tcs, "TCS", "gemini-2.5-pro", true);
  await insertAnalysis(sql, infy, "INFY", "gemini-2.5-flash", false);
  await insertAnalysis(sql, wipro, "WIPRO", "mystery-model", true);

  const fallbackAt = new Date(submittedAt.getTime() + 60_000);
  await insertCalls(sql, [
    ...batchRows(reliance, "gemini-2.5-flash", submittedAt, [
      { callType: "indicator_summary" },
      {
        callType: "comprehensive_overview",
        usage: {
          promptTokenCount: 10_000,
          cachedContentTokenCount: 4000,
          candidatesTokenCount: 1000,
          thoughtsTokenCount: 500,
          totalTokenCount: 11_500,
        },
      },
      {
        callType: "final_decision",
        usage: { promptTokenCount: 2000, candidatesTokenCount: 300, totalTokenCount: 2300 },
        text: DECISION,
      },
    ]),
    callRowFromRecord(
      reliance,
      callRecord({
        callType: "indicator_summary",
        attempt: 2,
        startedAt: fallbackAt,
        metadata: { promptTokenCount: 1000, candidatesTokenCount: 200, totalTokenCount: 1200 },
      }),
      STAGE_TEXT,
    ),
    ...batchRows(tcs, "gemini-2.5-pro", submittedAt, [
      {
        callType: "volume_analysis",
        usage: {
          promptTokenCount: 250_000,
          cachedContentTokenCount: 50_000,
          candidatesTokenCount: 1000,
          totalTokenCount: 251_000,
        },
      },
    ]),
    callRowFromRecord(
      infy,
      callRecord({
        callType: "indicator_summary",
        attempt: 1,
        startedAt: submittedAt,
        metadata: {
          promptTokenCount: 1000,
          cachedContentTokenCount: 500,
          candidatesTokenCount: 100,
          totalTokenCount: 1100,
        },
      }),
      STAGE_TEXT,
    ),
    ...batchRows(wipro, "mystery-model", submittedAt, [
      {
        callType: "indicator_summary",
        usage: { promptTokenCount: 100, candidatesTokenCount: 10, totalTokenCount: 110 },
      },
    ]),
  ]);
  await finalize(sql, reliance, "RELIANCE", "gemini-2.5-flash");
  await finalize(sql, tcs, "TCS", "gemini-2.5-pro");
  await finalize(sql, infy, "INFY", "gemini-2.5-flash");
  await finalize(sql, wipro, "WIPRO", "mystery-model");
}
