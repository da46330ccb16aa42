import { picoToUsd, usdToPico } from "../ledger/money.js";
import type { Sql } from "./database.js";

/** Sums of `llm_calls` by model, stage and status: what /metrics exposes as counters. */
export interface LedgerSums {
  model: string;
  stage: string;
  status: string;
  calls: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  cost_usd: string;
}

/**
 * Call rows stop changing once their call has ended, which is within LLM_TIMEOUT_MS (≤ 10 min)
 * of its start; an hour leaves a wide margin.
 */
const SETTLED_AFTER = "1 hour";

const sumsOf = (sql: Sql, where: ReturnType<Sql>) => sql<LedgerSums[]>`
  SELECT model, call_type AS stage, status, count(*)::bigint AS calls,
         COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
         COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
         COALESCE(sum(thinking_tokens), 0)::bigint AS thinking_tokens,
         COALESCE(sum(cached_input_tokens), 0)::bigint AS cached_input_tokens,
         COALESCE(sum(cost_usd), 0)::text AS cost_usd
  FROM llm_calls WHERE ${where} GROUP BY model, call_type, status`;

function merge(a: readonly LedgerSums[], b: readonly LedgerSums[]): LedgerSums[] {
  const merged = new Map<string, LedgerSums>();
  for (const row of [...a, ...b]) {
    const key = `${row.model}\u0000${row.stage}\u0000${row.status}`;
    const seen = merged.get(key);
    merged.set(
      key,
      seen
        ? {
            ...seen,
            calls: seen.calls + row.calls,
            input_tokens: seen.input_tokens + row.input_tokens,
            output_tokens: seen.output_tokens + row.output_tokens,
            thinking_tokens: seen.thinking_tokens + row.thinking_tokens,
            cached_input_tokens: seen.cached_input_tokens + row.cached_input_tokens,
            cost_usd: picoToUsd(usdToPico(seen.cost_usd) + usdToPico(row.cost_usd)),
          }
        : { ...row },
    );
  }
  return [...merged.values()];
}

/**
 * The ledger's sums, equal at every read to a GROUP BY over all of `llm_calls`, without
 * scanning all of it each time (seconds at millions of rows, on every scrape): rows older than
 * an hour are summed once per `baseMaxAgeMs` and kept; each read adds the rows since, which
 * the `started_at` index and the monthly partitions narrow to a sliver.
 */
export class LedgerSumsReader {
  #base: { cutoff: Date; sums: LedgerSums[]; takenAt: number } | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly baseMaxAgeMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async read(): Promise<LedgerSums[]> {
    const { sql } = this;
    if (!this.#base || this.now() - this.#base.takenAt >= this.baseMaxAgeMs) {
      const takenAt = this.now();
      const [row] = await sql<{ cutoff: Date }[]>`SELECT now() - ${SETTLED_AFTER}::interval AS cutoff`;
      const cutoff = row?.cutoff ?? new Date(0);
      this.#base = { cutoff, sums: await sumsOf(sql, sql`started_at < ${cutoff}`), takenAt };
    }
    const recent = await sumsOf(sql, sql`started_at >= ${this.#base.cutoff}`);
    return merge(this.#base.sums, recent);
  }
}
