import { UsageError } from "../config/config.js";
import { CALL_TYPES } from "../ledger/call-record.js";
import type { Sql } from "./database.js";
import { LATENCY_BUCKETS, latencyPercentile } from "./rollups-repo.js";

/**
 * Reads `stats` answers from the rollups (sql/002_rollups.sql): never from llm_calls, so the
 * cost of a query depends on the days and groups asked for, not on how many calls exist.
 */

export const STATS_RANGES = ["today", "7d", "30d", "all"] as const;
export type StatsRange = (typeof STATS_RANGES)[number];
export const STATS_DIMENSIONS = ["stage", "model", "ticker", "day"] as const;
export type StatsBy = (typeof STATS_DIMENSIONS)[number];

/** Whole UTC days: `from` inclusive (null: since the first rolled-up day), `to` exclusive. */
export interface StatsWindow {
  from: string | null;
  to: string;
}

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
}

export interface StatsReport {
  from: string;
  to: string;
  by: StatsBy;
  totals: StatsGroup;
  groups: StatsGroup[];
}

const DAY_MS = 86_400_000;
const isoDay = (date: Date) => date.toISOString().slice(0, 10);
const addDays = (day: string, days: number) =>
  isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));

function parseDay(raw: string, option: string): string {
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(raw) && !Number.isNaN(Date.parse(`${raw}T00:00:00Z`));
  if (!ok || isoDay(new Date(`${raw}T00:00:00Z`)) !== raw) {
    throw new UsageError(
      `invalid ${option} ${JSON.stringify(raw)}: stats counts whole UTC days, use YYYY-MM-DD`,
    );
  }
  return raw;
}

function oneOf<T extends string>(values: readonly T[], raw: string, option: string): T {
  if ((values as readonly string[]).includes(raw)) return raw as T;
  throw new UsageError(`invalid ${option} ${JSON.stringify(raw)}: must be one of ${values.join(", ")}`);
}

/**
 * Validates stats options as typed by a user (CLI flags or query string); throws UsageError
 * with one line. Defaults: all days, by stage.
 */
export function parseStatsOptions(
  raw: {
    range?: string | undefined;
    since?: string | undefined;
    until?: string | undefined;
    by?: string | undefined;
  },
  now: Date = new Date(),
): { window: StatsWindow; by: StatsBy } {
  const by = raw.by === undefined ? "stage" : oneOf(STATS_DIMENSIONS, raw.by, "--by");
  if (raw.range !== undefined && (raw.since !== undefined || raw.until !== undefined)) {
    throw new UsageError("use either --range or --since/--until, not both");
  }
  const today = isoDay(now);
  const tomorrow = addDays(today, 1);
  if (raw.since !== undefined || raw.until !== undefined) {
    const since = raw.since === undefined ? null : parseDay(raw.since, "--since");
    const until = raw.until === undefined ? null : parseDay(raw.until, "--until");
    if (since !== null && until !== null && since > until) {
      throw new UsageError(`invalid range: --since ${since} is after --until ${until}`);
    }
    const to = until === null ? tomorrow : addDays(until, 1);
    return { window: { from: since, to: since !== null && since >= to ? addDays(since, 1) : to }, by };
  }
  const range = raw.range === undefined ? "all" : oneOf(STATS_RANGES, raw.range, "--range");
  const back = { today: 0, "7d": 6, "30d": 29, all: null }[range];
  return { window: { from: back === null ? null : addDays(today, -back), to: tomorrow }, by };
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
}

// sum(latency_hist[i]) per bucket: merged histograms in one pass, no per-row function calls.
const HIST_SUMS = `ARRAY[${Array.from({ length: LATENCY_BUCKETS }, (_, i) => `sum(latency_hist[${i + 1}])`).join(", ")}]::float8[]`;

const firstOfMonth = (day: string) => `${day.slice(0, 7)}-01`;
const nextMonth = (day: string) => {
  const date = new Date(`${firstOfMonth(day)}T00:00:00Z`);
  date.setUTCMonth(date.getUTCMonth() + 1);
  return isoDay(date);
};

/**
 * Sums of one dimension's rollups over [from, to): whole months from month rows, the days
 * at either edge from day rows. `byDay` groups day rows by day instead.
 */
function aggregate(
  sql: Sql,
  dimension: "all" | "stage" | "model" | "ticker",
  from: string,
  to: string,
  byDay = false,
) {
  const monthStart = from === firstOfMonth(from) ? from : nextMonth(from);
  const monthEnd = firstOfMonth(to);
  const [m1, m2] = byDay || monthStart >= monthEnd ? [to, to] : [monthStart, monthEnd];
  return sql<AggregateRow[]>`
    SELECT ${byDay ? sql`to_char(period, 'YYYY-MM-DD')` : sql`key`} AS key,
      sum(analyses)::bigint AS analyses, sum(calls)::bigint AS calls, sum(failed_calls)::bigint AS failed_calls,
      sum(unpriced_calls)::bigint AS unpriced_calls, sum(input_tokens)::bigint AS input_tokens,
      sum(output_tokens)::bigint AS output_tokens, sum(thinking_tokens)::bigint AS thinking_tokens,
      sum(cached_input_tokens)::bigint AS cached_input_tokens, sum(total_tokens)::bigint AS total_tokens,
      sum(cost_usd)::text AS cost_usd, max(latency_max_ms) AS latency_max_ms, ${sql.unsafe(HIST_SUMS)} AS hist
    FROM (
      SELECT * FROM stats_rollups
      WHERE dimension = ${dimension} AND grain = 'month' AND period >= ${m1}::date AND period < ${m2}::date
      UNION ALL
      SELECT * FROM stats_rollups
      WHERE dimension = ${dimension} AND grain = 'day' AND period >= ${from}::date AND period < ${m1}::date
      UNION ALL
      SELECT * FROM stats_rollups
      WHERE dimension = ${dimension} AND grain = 'day' AND period >= ${m2}::date AND period < ${to}::date
    ) rows
    GROUP BY 1`;
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

/** The first day with rolled-up analyses, or null when there is none. */
async function firstDay(sql: Sql): Promise<string | null> {
  const [row] = await sql<{ day: string | null }[]>`
    SELECT to_char(min(period), 'YYYY-MM-DD') AS day FROM stats_rollups WHERE dimension = 'all' AND grain = 'day'`;
  return row?.day ?? null;
}

/** Resolves an open start to the first rolled-up day (today's window when there is none). */
export async function resolveWindow(sql: Sql, window: StatsWindow): Promise<{ from: string; to: string }> {
  if (window.from !== null) return { from: window.from, to: window.to };
  const first = await firstDay(sql);
  return { from: first !== null && first < window.to ? first : addDays(window.to, -1), to: window.to };
}

/** Totals and groups over a window: `stats --json` and `GET /stats`. */
export async function loadStats(sql: Sql, query: { window: StatsWindow; by: StatsBy }): Promise<StatsReport> {
  const { from, to } = await resolveWindow(sql, query.window);
  const [totals, groups] = await Promise.all([
    aggregate(sql, "all", from, to),
    query.by === "day" ? aggregate(sql, "all", from, to, true) : aggregate(sql, query.by, from, to),
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
  const { from, to } = await resolveWindow(sql, window);
  const rows = await aggregate(sql, dimension, from, to);
  const [top] = ordered(
    dimension,
    rows.map((row) => toGroup(row.key, row)),
  );
  return top && top.cost_usd !== null && top.cost_usd > 0 ? top : null;
}
