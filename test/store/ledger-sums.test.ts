import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LedgerSums, LedgerSumsReader } from "../../src/store/ledger-sums-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.sql`INSERT INTO stock_analyses (id, ticker, model, status) VALUES ('an-sums', 'TCS', 'gemini-2.5-flash', 'running')`;
});
afterAll(() => db.drop());

let attempt = 0;
/** One call row started `ago` before now (a Postgres interval). */
async function insertCall(ago: string, status: "success" | "failure", callType = "indicator_summary") {
  attempt += 1;
  await db.sql`
    INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
      thinking_tokens, cached_input_tokens, total_tokens, usage_source, started_at, duration_ms, cost_usd)
    VALUES ('an-sums', ${callType}, ${attempt}, 'gemini-2.5-flash', ${status}, 100, 20, 5, 10, 120, 'provider',
      now() - ${ago}::interval, 900, 0.000123456789)`;
}

/** What every read must equal: the GROUP BY over all of llm_calls. */
const wholeTable = () => db.sql<LedgerSums[]>`
  SELECT model, call_type AS stage, status, count(*)::bigint AS calls,
         sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
         sum(thinking_tokens)::bigint AS thinking_tokens, sum(cached_input_tokens)::bigint AS cached_input_tokens,
         sum(cost_usd)::numeric(30, 12)::text AS cost_usd
  FROM llm_calls GROUP BY 1, 2, 3`;

const sorted = (rows: LedgerSums[]) =>
  rows
    .map((r) => ({ ...r, cost_usd: Number(r.cost_usd).toFixed(12) }))
    .sort((a, b) => `${a.stage}${a.status}`.localeCompare(`${b.stage}${b.status}`));

describe("LedgerSumsReader", () => {
  it("equals a GROUP BY over all calls, summing old rows once and recent ones at every read", async () => {
    let now = 0;
    const reader = new LedgerSumsReader(db.sql, 60_000, () => now);
    await insertCall("40 days", "success");
    await insertCall("2 days", "failure");
    await insertCall("2 hours", "success", "final_decision");
    await insertCall("5 minutes", "success");
    expect(sorted(await reader.read())).toEqual(sorted(await wholeTable()));

    // New calls (always recent) show at the next read, with no new pass over the old rows ...
    await insertCall("1 second", "failure");
    await insertCall("0 seconds", "success", "final_decision");
    expect(sorted(await reader.read())).toEqual(sorted(await wholeTable()));

    // ... which only a refresh of the kept base would see: here an old row written behind its back.
    await insertCall("3 days", "success", "volume_analysis");
    expect((await reader.read()).some((r) => r.stage === "volume_analysis")).toBe(false);
    now = 60_000;
    expect(sorted(await reader.read())).toEqual(sorted(await wholeTable()));
  });
});
