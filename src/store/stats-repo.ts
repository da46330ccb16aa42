import { CALL_TYPES } from "../ledger/call-record.js";
import type { Sql } from "./database.js";
import { LATENCY_BUCKETS, latencyPercentile } from "./rollups-repo.js";
import {
  addDays,
  type DataSpan,
  type PeriodPlan,
  planPeriods,
  type StatsBy,
  type StatsWindow,
} from "./stats-periods.js";

/**
 * Reads `stats` answers from the rollups (sql/002_rollups.sql): never from llm_calls, so the
 * cost of a query depends on the days and groups asked for, not on how many calls exist.
 */

export type { StatsBy, StatsRange, StatsWindow } from "./stats-periods.js";
export { parseStatsOptions, planPeriods, STATS_DIMENSIONS, STATS_RANGES } from "./stats-periods.js";

/** One group of `stats --json` (DESIGN §5), plus cost per 1K tokens and unpriced calls. */
export interface StatsGroup {
  key: string;
  analyses: number;
  calls: number;
  failed_calls: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  total_tokens: number;
  /** Sum over priced calls; null only when every call in the group is unpriced. */
  cost_usd: number | null;
  cost_per_1k_tokens: number | null;
  /** Successful calls / calls. */
  success_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  /** Calls of a model with no known price: their tokens are counted, their cost is not. */
  unpriced_calls: number;
  /** Tokens reuse did not spend: each analysis' `tokens_saved` (per stage under --by stage). */
  tokens_saved: number;
  /** What reuse saved, USD. */
  reuse_cost_saved_usd: number;
  /** What cached input tokens saved against the input rate of the price that priced them, USD. */
  cache_cost_saved_usd: number;
  /** What batch calls saved: their cost at the standard rates less their cost at the batch rates, USD. */
  batch_saved_usd: number;
}

export interface StatsReport {
  from: string;
  to: string;
  by: StatsBy;
  totals: StatsGroup;
  groups: StatsGroup[];
}

interface AggregateRow {
  key: string;
  analyses: number;
  calls: number;
  failed_calls: number;
  unpriced_calls: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  total_tokens: number;
  cost_usd: string;
  latency_max_ms: number | null;
  hist: number[];
  tokens_saved: number;
  reuse_cost_saved_usd: string;
  cache_cost_saved_usd: string;
  batch_saved_usd: string;
}

// Merged histograms in one pass: sum(latency_hist[i]) per bucket, no per-row function calls.
const histSums = (signed: boolean) =>
  `ARRAY[${Array.from({ length: LATENCY_BUCKETS }, (_, i) => `sum(${signed ? "sign * " : ""}latency_hist[${i + 1}])`).join(", ")}]::float8[]`;
const HIST_SUMS = histSums(false);
const SIGNED_HIST_SUMS = histSums(true);

async function dataSpan(sql: Sql): Promise<DataSpan | null> {
  const [row] = await sql<{ first: string | null; last: string | null }[]>`
    SELECT to_char(min(period), 'YYYY-MM-DD') AS first, to_char(max(period), 'YYYY-MM-DD') AS last
    FROM stats_rollups_live WHERE dimension = 'all' AND grain = 'day'`;
  return row?.first && row.last ? { first: row.first, end: addDays(row.last, 1) } : null;
}

/**
 * Sums of one dimension's rollup rows over a plan, grouped by key (or by day). Latency
 * histograms are merged only when asked for: they are most of the work. When the plan
 * subtracts days from a month, the largest latency is the month's (it only closes the open
 * last bucket).
 */
async function aggregate(
  sql: Sql,
  dimension: "all" | "stage" | "model" | "ticker",
  plan: PeriodPlan | null,
  options: { byDay?: boolean; latency?: boolean } = {},
): Promise<AggregateRow[]> {
  if (!plan) return [];
  const [m1, m2] = plan.months;
  const signed = plan.minus.length > 0;
  const sum = (column: string) => sql.unsafe(`sum(${signed ? "sign * " : ""}${column})`);
  const rows = (sign: 1 | -1, grain: "day" | "month", [from, to]: [string, string]) => sql`
    SELECT ${sql.unsafe(String(sign))}::int AS sign, * FROM stats_rollups_live
    WHERE dimension = ${dimension} AND grain = ${grain} AND period >= ${from}::date AND period < ${to}::date`;
  const union = [
    ...plan.days.filter(([from, to]) => from < to).map((range) => rows(1, "day", range)),
    ...plan.minus.map((range) => rows(-1, "day", range)),
  ].reduce((all, part) => sql`${all} UNION ALL ${part}`, rows(1, "month", [m1, m2]));
  return sql<AggregateRow[]>`
    SELECT ${options.byDay ? sql`to_char(period, 'YYYY-MM-DD')` : sql`key`} AS key,
      ${sum("analyses")}::bigint AS analyses, ${sum("calls")}::bigint AS calls,
      ${sum("failed_calls")}::bigint AS failed_calls, ${sum("unpriced_calls")}::bigint AS unpriced_calls,
      ${sum("input_tokens")}::bigint AS input_tokens, ${sum("output_tokens")}::bigint AS output_tokens,
      ${sum("thinking_tokens")}::bigint AS thinking_tokens,
      ${sum("cached_input_tokens")}::bigint AS cached_input_tokens,
      ${sum("total_tokens")}::bigint AS total_tokens, ${sum("cost_usd")}::text AS cost_usd,
      max(latency_max_ms) AS latency_max_ms, ${sum("tokens_saved")}::bigint AS tokens_saved,
      ${sum("reuse_cost_saved_usd")}::text AS reuse_cost_saved_usd,
      ${sum("cache_cost_saved_usd")}::text AS cache_cost_saved_usd,
      ${sum("batch_saved_usd")}::text AS batch_saved_usd,
      ${options.latency === false ? sql`'{}'::float8[]` : sql.unsafe(signed ? SIGNED_HIST_SUMS : HIST_SUMS)} AS hist
    FROM (${union}) rows
    GROUP BY 1
    HAVING ${sum("analyses")} <> 0`;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

function toGroup(key: string, row: AggregateRow | undefined): StatsGroup {
  const calls = row?.calls ?? 0;
  const failed = row?.failed_calls ?? 0;
  const unpriced = row?.unpriced_calls ?? 0;
  const total = row?.total_tokens ?? 0;
  const cost = calls > 0 && unpriced === calls ? null : Number(row?.cost_usd ?? 0);
  const hist = row?.hist ?? [];
  const maxMs = row?.latency_max_ms ?? null;
  return {
    key,
    analyses: row?.analyses ?? 0,
    calls,
    failed_calls: failed,
    input_tokens: row?.input_tokens ?? 0,
    output_tokens: row?.output_tokens ?? 0,
    thinking_tokens: row?.thinking_tokens ?? 0,
    cached_input_tokens: row?.cached_input_tokens ?? 0,
    total_tokens: total,
    cost_usd: cost,
    cost_per_1k_tokens: cost === null || total === 0 ? null : round((cost * 1000) / total, 9),
    success_rate: calls === 0 ? null : round((calls - failed) / calls, 4),
    p50_ms: latencyPercentile(hist, 0.5, maxMs),
    p95_ms: latencyPercentile(hist, 0.95, maxMs),
    unpriced_calls: unpriced,
    tokens_saved: row?.tokens_saved ?? 0,
    reuse_cost_saved_usd: Number(row?.reuse_cost_saved_usd ?? 0),
    cache_cost_saved_usd: Number(row?.cache_cost_saved_usd ?? 0),
    batch_saved_usd: Number(row?.batch_saved_usd ?? 0),
  };
}

const stageRank = (key: string) => {
  const index = (CALL_TYPES as readonly string[]).indexOf(key);
  return index === -1 ? CALL_TYPES.length : index;
};

/** Stages in pipeline order, days in date order, models and tickers most expensive first. */
function ordered(by: StatsBy, groups: StatsGroup[]): StatsGroup[] {
  const byKey = (a: StatsGroup, b: StatsGroup) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  if (by === "day") return groups.sort(byKey);
  if (by === "stage") return groups.sort((a, b) => stageRank(a.key) - stageRank(b.key) || byKey(a, b));
  return groups.sort((a, b) => (b.cost_usd ?? -1) - (a.cost_usd ?? -1) || byKey(a, b));
}

/** The window as reported: an open start becomes the first rolled-up day. */
function reportedWindow(window: StatsWindow, span: DataSpan | null): { from: string; to: string } {
  if (window.from !== null) return { from: window.from, to: window.to };
  const first = span?.first;
  return { from: first !== undefined && first < window.to ? first : addDays(window.to, -1), to: window.to };
}

/** Totals and groups over a window: `stats --json` and `GET /stats`. */
export async function loadStats(sql: Sql, query: { window: StatsWindow; by: StatsBy }): Promise<StatsReport> {
  const span = await dataSpan(sql);
  const { from, to } = reportedWindow(query.window, span);
  const plan = (byDay: boolean) => (span ? planPeriods(from, to, span, byDay) : null);
  const [totals, groups] = await Promise.all([
    aggregate(sql, "all", plan(false)),
    query.by === "day"
      ? aggregate(sql, "all", plan(true), { byDay: true })
      : aggregate(sql, query.by, plan(false)),
  ]);
  return {
    from: `${from}T00:00:00.000Z`,
    to: `${to}T00:00:00.000Z`,
    by: query.by,
    totals: toGroup("all", totals[0]),
    groups: ordered(
      query.by,
      groups.map((row) => toGroup(row.key, row)),
    ),
  };
}

/** The model or ticker that cost the most over a window, or null when nothing was priced. */
export async function mostExpensive(
  sql: Sql,
  window: StatsWindow,
  dimension: "model" | "ticker",
): Promise<StatsGroup | null> {
  const span = await dataSpan(sql);
  const { from, to } = reportedWindow(window, span);
  const rows = await aggregate(sql, dimension, span ? planPeriods(from, to, span, false) : null, {
    latency: false,
  });
  const [top] = ordered(
    dimension,
    rows.map((row) => toGroup(row.key, row)),
  );
  return top && top.cost_usd !== null && top.cost_usd > 0 ? top : null;
}
