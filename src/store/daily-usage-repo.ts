import type { Sql } from "./database.js";

/** Tokens and cost billed on one UTC day, summed over `llm_calls` (failed attempts included). */
export interface DailyUsage {
  day: string;
  analyses: number;
  calls: number;
  failed_calls: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  total_tokens: number;
  /** Exact decimal string from NUMERIC. */
  cost_usd: string;
}

/**
 * The last `days` UTC days up to today, oldest first, with empty days as zeros so a chart
 * shows gaps as gaps. A call counts on the day it started.
 */
export async function dailyUsage(sql: Sql, days: number, now: Date = new Date()): Promise<DailyUsage[]> {
  return sql<DailyUsage[]>`
    WITH bounds AS (
      SELECT date_trunc('day', ${now}::timestamptz AT TIME ZONE 'UTC') AS last_day
    ), series AS (
      SELECT generate_series(last_day - (${days - 1} * interval '1 day'), last_day, interval '1 day') AS day
      FROM bounds
    ), usage AS (
      SELECT date_trunc('day', started_at AT TIME ZONE 'UTC') AS day,
             count(DISTINCT analysis_id) AS analyses,
             count(*) AS calls,
             count(*) FILTER (WHERE status <> 'success') AS failed_calls,
             sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
             sum(thinking_tokens) AS thinking_tokens, sum(cached_input_tokens) AS cached_input_tokens,
             sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd
      FROM llm_calls, bounds
      WHERE started_at >= (last_day - (${days - 1} * interval '1 day')) AT TIME ZONE 'UTC'
        AND started_at < (last_day + interval '1 day') AT TIME ZONE 'UTC'
      GROUP BY 1
    )
    SELECT to_char(series.day, 'YYYY-MM-DD') AS day,
           COALESCE(usage.analyses, 0)::int AS analyses,
           COALESCE(usage.calls, 0)::int AS calls,
           COALESCE(usage.failed_calls, 0)::int AS failed_calls,
           COALESCE(usage.input_tokens, 0)::bigint AS input_tokens,
           COALESCE(usage.output_tokens, 0)::bigint AS output_tokens,
           COALESCE(usage.thinking_tokens, 0)::bigint AS thinking_tokens,
           COALESCE(usage.cached_input_tokens, 0)::bigint AS cached_input_tokens,
           COALESCE(usage.total_tokens, 0)::bigint AS total_tokens,
           COALESCE(usage.cost_usd, 0)::text AS cost_usd
    FROM series LEFT JOIN usage ON usage.day = series.day
    ORDER BY series.day`;
}
