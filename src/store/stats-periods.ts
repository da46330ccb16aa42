import { UsageError } from "../config/config.js";

/**
 * Which days a `stats` question covers, and which rollup rows answer it with the fewest
 * reads. Pure: dates are "YYYY-MM-DD" strings of UTC days.
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

const DAY_MS = 86_400_000;
const isoDay = (date: Date) => date.toISOString().slice(0, 10);
export const addDays = (day: string, days: number) =>
  isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
const daysBetween = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS);
const firstOfMonth = (day: string) => `${day.slice(0, 7)}-01`;
const nextMonth = (day: string) => {
  const date = new Date(`${firstOfMonth(day)}T00:00:00Z`);
  date.setUTCMonth(date.getUTCMonth() + 1);
  return isoDay(date);
};
const later = (a: string, b: string) => (a > b ? a : b);
const earlier = (a: string, b: string) => (a < b ? a : b);

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

/** A stats option's name as its caller's users know it: `--since` on the command line, `since` in a query. */
export type StatsOptionName = (option: "range" | "since" | "until" | "by") => string;
const cliFlag: StatsOptionName = (option) => `--${option}`;

/**
 * Validates stats options as typed by a user (CLI flags or query string); throws UsageError
 * with one line naming each option by `name`. Defaults: all days, by stage.
 */
export function parseStatsOptions(
  raw: {
    range?: string | undefined;
    since?: string | undefined;
    until?: string | undefined;
    by?: string | undefined;
  },
  now: Date = new Date(),
  name: StatsOptionName = cliFlag,
): { window: StatsWindow; by: StatsBy } {
  const by = raw.by === undefined ? "stage" : oneOf(STATS_DIMENSIONS, raw.by, name("by"));
  if (raw.range !== undefined && (raw.since !== undefined || raw.until !== undefined)) {
    throw new UsageError(`use either ${name("range")} or ${name("since")}/${name("until")}, not both`);
  }
  const today = isoDay(now);
  const tomorrow = addDays(today, 1);
  if (raw.since !== undefined || raw.until !== undefined) {
    const since = raw.since === undefined ? null : parseDay(raw.since, name("since"));
    const until = raw.until === undefined ? null : parseDay(raw.until, name("until"));
    if (since !== null && until !== null && since > until) {
      throw new UsageError(`invalid ${name("since")}/${name("until")}: ${since} is after ${until}`);
    }
    const to = until === null ? tomorrow : addDays(until, 1);
    return { window: { from: since, to: since !== null && since >= to ? addDays(since, 1) : to }, by };
  }
  const range = raw.range === undefined ? "all" : oneOf(STATS_RANGES, raw.range, name("range"));
  const back = { today: 0, "7d": 6, "30d": 29, all: null }[range];
  return { window: { from: back === null ? null : addDays(today, -back), to: tomorrow }, by };
}

/** The days that hold rolled-up data: [first, end). */
export interface DataSpan {
  first: string;
  end: string;
}

/**
 * Rollup rows that answer a window: month rows over `months` [from, to), plus day rows over
 * each range of `days`, minus day rows over each range of `minus`.
 */
export interface PeriodPlan {
  months: [string, string];
  days: [string, string][];
  minus: [string, string][];
}

/**
 * Plans the fewest rows for [from, to). Each month the window touches is read as its month
 * row when the window holds all of its days with data (there is none outside `span`), as its
 * month row minus the days left out when those are fewer, else as day rows. So a year reads
 * about 13 rows per key, and no window reads more than about a month of day rows per key.
 * null when the window holds no data.
 */
export function planPeriods(from: string, to: string, span: DataSpan, byDay: boolean): PeriodPlan | null {
  const start = later(from, span.first);
  const end = earlier(to, span.end);
  if (start >= end) return null;
  if (byDay) return { months: [end, end], days: [[start, end]], minus: [] };
  const months: string[] = [];
  const days: [string, string][] = [];
  const minus: [string, string][] = [];
  for (let month = firstOfMonth(start); month < end; month = nextMonth(month)) {
    const dataFrom = later(month, span.first);
    const dataTo = earlier(nextMonth(month), span.end);
    const inFrom = later(dataFrom, start);
    const inTo = earlier(dataTo, end);
    const outside = daysBetween(dataFrom, inFrom) + daysBetween(inTo, dataTo);
    if (outside === 0 || 1 + outside < daysBetween(inFrom, inTo)) {
      months.push(month);
      if (inFrom > dataFrom) minus.push([dataFrom, inFrom]);
      if (dataTo > inTo) minus.push([inTo, dataTo]);
    } else {
      days.push([inFrom, inTo]);
    }
  }
  const [first] = months;
  const last = months.at(-1);
  return {
    months: first !== undefined && last !== undefined ? [first, nextMonth(last)] : [end, end],
    days,
    minus,
  };
}
