import type { Sql } from "../../src/store/database.js";
import { applyRollups, foldAllPendingRollups } from "../../src/store/rollups-repo.js";

/**
 * A small ledger whose stats are worked out by hand in the tests:
 *
 * A1 RELIANCE gemini-2.5-flash, started 2026-03-10 09:00Z, completed
 *    indicator_summary #1 failure  in 0    out 0   think 0   cached 0   total 0     $0       100 ms
 *    indicator_summary #2 success  in 1000 out 500 think 100 cached 200 total 1500  $0.001   1000 ms
 *    final_decision    #1 success  in 2000 out 300 think 50  cached 0   total 2300  $0.002   3000 ms
 * A2 TCS gemini-2.5-pro, started 2026-03-11 23:59:59Z (its last call runs past midnight), completed
 *    indicator_summary #1 success  in 500  out 100 think 0   cached 0   total 600   $0.0005  2000 ms
 *    final_decision    #1 failure  in 800  out 200 think 20  cached 0   total 1000  $0.003   500 ms
 * A3 RELIANCE mystery-model (no known price), started 2026-04-02 08:00Z, partial
 *    indicator_summary #1 success  in 100  out 10  think 0   cached 0   total 110   NULL     50 ms
 * A4 INFY gemini-2.5-flash, started 2026-04-02 08:30Z, failed before any call
 */
export const FIXTURE_NOW = new Date("2026-04-02T12:00:00Z");

interface CallFixture {
  callType: string;
  attempt: number;
  status: "success" | "failure";
  input: number;
  output: number;
  thinking: number;
  cached: number;
  cost: string | null;
  durationMs: number;
  startedAt: string;
}

interface AnalysisFixture {
  id: string;
  ticker: string;
  model: string;
  status: string;
  startedAt: string;
  calls: CallFixture[];
}

const call = (
  callType: string,
  attempt: number,
  status: "success" | "failure",
  [input, output, thinking, cached]: [number, number, number, number],
  cost: string | null,
  durationMs: number,
  startedAt: string,
): CallFixture => ({
  callType,
  attempt,
  status,
  input,
  output,
  thinking,
  cached,
  cost,
  durationMs,
  startedAt,
});

export const FIXTURE: AnalysisFixture[] = [
  {
    id: "fx-a1",
    ticker: "RELIANCE",
    model: "gemini-2.5-flash",
    status: "completed",
    startedAt: "2026-03-10T09:00:00Z",
    calls: [
      call("indicator_summary", 1, "failure", [0, 0, 0, 0], "0", 100, "2026-03-10T09:00:01Z"),
      call("indicator_summary", 2, "success", [1000, 500, 100, 200], "0.001", 1000, "2026-03-10T09:00:02Z"),
      call("final_decision", 1, "success", [2000, 300, 50, 0], "0.002", 3000, "2026-03-10T09:00:05Z"),
    ],
  },
  {
    id: "fx-a2",
    ticker: "TCS",
    model: "gemini-2.5-pro",
    status: "completed",
    startedAt: "2026-03-11T23:59:59Z",
    calls: [
      call("indicator_summary", 1, "success", [500, 100, 0, 0], "0.0005", 2000, "2026-03-11T23:59:59.500Z"),
      call("final_decision", 1, "failure", [800, 200, 20, 0], "0.003", 500, "2026-03-12T00:00:02Z"),
    ],
  },
  {
    id: "fx-a3",
    ticker: "RELIANCE",
    model: "mystery-model",
    status: "partial",
    startedAt: "2026-04-02T08:00:00Z",
    calls: [call("indicator_summary", 1, "success", [100, 10, 0, 0], null, 50, "2026-04-02T08:00:01Z")],
  },
  {
    id: "fx-a4",
    ticker: "INFY",
    model: "gemini-2.5-flash",
    status: "failed",
    startedAt: "2026-04-02T08:30:00Z",
    calls: [],
  },
];

/** Inserts the fixture as ended analyses with their calls, rolled up as finalize does. */
export async function insertStatsFixture(sql: Sql): Promise<void> {
  for (const a of FIXTURE) {
    await sql.begin(async (tx) => {
      await tx`
        INSERT INTO stock_analyses (id, ticker, model, status, created_at, started_at, completed_at, llm_calls_count)
        VALUES (${a.id}, ${a.ticker}, ${a.model}, ${a.status}, ${a.startedAt}, ${a.startedAt},
                ${a.startedAt}::timestamptz + interval '10 seconds', ${a.calls.length})`;
      for (const c of a.calls) {
        await tx`
          INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
            thinking_tokens, cached_input_tokens, total_tokens, usage_source, error_type, started_at, duration_ms,
            cost_usd)
          VALUES (${a.id}, ${c.callType}, ${c.attempt}, ${a.model}, ${c.status}, ${c.input}, ${c.output},
            ${c.thinking}, ${c.cached}, ${c.input + c.output}, 'provider',
            ${c.status === "failure" ? "rate_limited" : null}, ${c.startedAt}, ${c.durationMs}, ${c.cost})`;
      }
      await applyRollups(tx, a.id);
    });
  }
  await foldAllPendingRollups(sql);
}
