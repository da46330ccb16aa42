import { expect } from "vitest";
import type { RequestLogEntry } from "../../src/llm/emulator/index.js";
import type { Sql } from "../../src/store/database.js";

interface Sums {
  calls: number;
  failed: number;
  input: number;
  output: number;
  thinking: number;
  cached: number;
  total: number;
}

/** The analysis row's totals must equal the sums over its llm_calls rows. */
export async function expectTotalsMatchCalls(sql: Sql, analysisId: string): Promise<Sums> {
  const [sums] = await sql<Sums[]>`
    SELECT count(*)::int AS calls,
           count(*) FILTER (WHERE status <> 'success')::int AS failed,
           COALESCE(sum(input_tokens), 0)::int AS input, COALESCE(sum(output_tokens), 0)::int AS output,
           COALESCE(sum(thinking_tokens), 0)::int AS thinking, COALESCE(sum(cached_input_tokens), 0)::int AS cached,
           COALESCE(sum(total_tokens), 0)::int AS total
    FROM llm_calls WHERE analysis_id = ${analysisId}`;
  const [row] = await sql`SELECT * FROM stock_analyses WHERE id = ${analysisId}`;
  expect(row, `analysis ${analysisId}`).toBeDefined();
  expect({
    calls: row?.llm_calls_count,
    failed: row?.failed_calls_count,
    input: row?.total_input_tokens,
    output: row?.total_output_tokens,
    thinking: row?.thinking_tokens,
    cached: row?.cached_input_tokens,
    total: row?.total_tokens,
  }).toEqual(sums);
  return sums as Sums;
}

/** What the Gemini-protocol server billed for an analysis, mapped per DESIGN §3. */
export function billedByServer(log: RequestLogEntry[], analysisId: string) {
  const sums = { input: 0, output: 0, thinking: 0, cached: 0, total: 0, requests: 0 };
  for (const entry of log) {
    if (entry.method !== "generateContent" || entry.analysisId !== analysisId) continue;
    sums.requests += 1;
    const u = (entry.usageMetadata ?? {}) as Record<string, number | undefined>;
    sums.input += (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0);
    sums.output += (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
    sums.thinking += u.thoughtsTokenCount ?? 0;
    sums.cached += u.cachedContentTokenCount ?? 0;
    sums.total += u.totalTokenCount ?? 0;
  }
  return sums;
}

/**
 * The ledger agrees with the server for each analysis: its totals are the sums of its calls, no
 * stage was asked again after the attempt recorded as its success, and each success holds
 * exactly the tokens the server returned for that attempt.
 */
export async function expectLedgerMatchesServer(sql: Sql, ids: string[], log: RequestLogEntry[]) {
  const served = log.filter((e) => e.method === "generateContent");
  for (const id of ids) {
    await expectTotalsMatchCalls(sql, id);
    const successes = await sql<{ call_type: string; attempt: number; total_tokens: number }[]>`
      SELECT call_type, attempt, total_tokens FROM llm_calls WHERE analysis_id = ${id} AND status = 'success'`;
    for (const call of successes) {
      const requests = served.filter((e) => e.analysisId === id && e.callType === call.call_type);
      expect(
        requests.filter((e) => (e.attempt ?? 0) > call.attempt),
        `${id} ${call.call_type} asked again`,
      ).toEqual([]);
      const answer = requests.find((e) => e.attempt === call.attempt);
      expect(call.total_tokens, `${id} ${call.call_type}`).toBe(answer?.usageMetadata?.totalTokenCount);
    }
  }
}
