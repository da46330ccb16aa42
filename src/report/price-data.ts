import { barsHash } from "../analysis/stage-charts.js";
import { toYahooSymbol } from "../market/live/yahoo-symbol.js";
import { PriceBarsProvider } from "../market/price-bars-provider.js";
import type { SamplePriceProvider } from "../market/sample-provider.js";
import type { DataSource, PriceSeries } from "../market/types.js";
import type { AnalysisRow } from "../store/analyses-repo.js";
import type { Sql } from "../store/database.js";
import { loadPriceBars } from "../store/price-bars-repo.js";

/**
 * Which price data an analysis used, recovered after the fact. The pipeline records the
 * source's label (`market_data_source`, what `summary` prints) and the sha256 of the bars
 * (`data_hash`), not the bars; the report looks for bars with that hash among the places the
 * pipeline could have read them from — imported bars, the live feed's cache, the shipped
 * samples — without fetching anything. Found: the charts are drawn from exactly those bars.
 */
export interface UsedPriceData {
  /** As recorded (and as `summary` prints it); null when the analysis never got market data. */
  label: string | null;
  /** real, synthetic, imported, live …; null when it cannot be told. */
  plain: string | null;
  /** The bars the analysis used; null when they are no longer stored anywhere (or none were). */
  series: PriceSeries | null;
  /** same: bars with the recorded hash found; changed: not found; unverified: no hash recorded. */
  check: "same" | "changed" | "unverified" | "none";
  period: { first: string; last: string; bars: number } | null;
  /** Plain sentences about the data changing since the analysis ran. */
  notes: string[];
}

/** One word (or two) for where prices came from, for a reader who does not know the labels. */
export const PLAIN_SOURCE: Record<DataSource["kind"], string> = {
  "sample-real": "real (shipped sample)",
  "sample-synthetic": "synthetic",
  csv: "CSV file (shipped sample)",
  imported: "imported",
  live: "live (Yahoo Finance)",
  "live-cached": "live (Yahoo Finance, stale cache)",
};

/** "(250 bars" in a recorded label: imported and live labels state how many bars were analysed. */
const BAR_COUNT = /\((\d+) bars/;

interface Candidate {
  series: PriceSeries;
  /** When these bars were last written to price_bars (null: shipped samples). */
  writtenAt: Date | null;
}

async function candidates(sql: Sql, samples: SamplePriceProvider, ticker: string): Promise<Candidate[]> {
  const found: Candidate[] = [];
  // Imported bars: what PriceBarsProvider serves, read the same way.
  const imported = await new PriceBarsProvider(sql).load(ticker);
  if (imported) found.push({ series: imported, writtenAt: await lastImport(sql, ticker) });
  // The live feed's cache, under the Yahoo symbol the live provider caches it as.
  const symbol = toYahooSymbol(ticker, new Set(await samples.tickersIn("INR")));
  const live = await loadPriceBars(sql, symbol, "live");
  if (live) {
    found.push({
      series: {
        ticker,
        currency: live.currency ?? "unknown",
        source: { kind: "live", label: `Yahoo Finance daily bars for ${symbol}` },
        bars: live.bars,
      },
      writtenAt: live.fetchedAt,
    });
  }
  const sample = await samples.load(ticker);
  if (sample && sample.bars.length > 0) found.push({ series: sample, writtenAt: null });
  return found;
}

/** When bars of `ticker` were last imported (the provider's series does not say). */
async function lastImport(sql: Sql, ticker: string): Promise<Date | null> {
  const [row] = await sql<{ at: Date | null }[]>`
    SELECT max(fetched_at) AS at FROM price_bars WHERE ticker = ${ticker} AND source = 'import'`;
  return row?.at ?? null;
}

/**
 * The windows of a candidate's bars that may be what the analysis saw: all of them, or — when
 * the label says the analysis had n bars and there are more now — the first or last n (bars
 * imported or fetched after the analysis, at either end).
 */
function windows(series: PriceSeries, recordedBars: number | null): PriceSeries[] {
  const all = [series];
  const n = recordedBars;
  if (n === null || n <= 0 || n >= series.bars.length) return all;
  return [...all, { ...series, bars: series.bars.slice(0, n) }, { ...series, bars: series.bars.slice(-n) }];
}

const stamp = (date: Date) => `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;

function periodOf(series: PriceSeries): UsedPriceData["period"] {
  const first = series.bars[0];
  const last = series.bars.at(-1);
  return first && last ? { first: first.date, last: last.date, bars: series.bars.length } : null;
}

/** Sentences about bars written after the analysis started: what a new analysis would see differs. */
function changeNotes(
  row: AnalysisRow,
  found: Candidate[],
  used: Candidate | null,
  check: UsedPriceData["check"],
): string[] {
  const since = row.started_at ?? row.created_at;
  const notes: string[] = [];
  for (const candidate of found) {
    if (!candidate.writtenAt || candidate.writtenAt <= since) continue;
    const what = candidate.series.source.kind === "imported" ? "imported" : "fetched into the live cache";
    const tail =
      used === candidate && check === "same"
        ? "; the bars this analysis used are still among them, unchanged"
        : used !== null && used !== candidate && candidate.series.source.kind === "imported"
          ? "; a new analysis would read those instead of the data this one used"
          : "";
    notes.push(
      `Price bars for ${row.ticker} were ${what} at ${stamp(candidate.writtenAt)}, after this analysis ` +
        `started (${stamp(since)})${tail}.`,
    );
  }
  return notes;
}

/** Finds the bars an analysis used (see UsedPriceData). Reads only; fetches nothing. */
export async function recoverPriceData(
  sql: Sql,
  samples: SamplePriceProvider,
  row: AnalysisRow,
): Promise<UsedPriceData> {
  const label = row.market_data_source;
  if (label === null && row.data_hash === null) {
    return { label, plain: null, series: null, check: "none", period: null, notes: [] };
  }
  const found = await candidates(sql, samples, row.ticker);
  const recordedBars = label ? Number(BAR_COUNT.exec(label)?.[1] ?? Number.NaN) : Number.NaN;
  let used: Candidate | null = null;
  let series: PriceSeries | null = null;
  if (row.data_hash !== null) {
    search: for (const candidate of found) {
      for (const window of windows(candidate.series, Number.isNaN(recordedBars) ? null : recordedBars)) {
        if (barsHash(window) === row.data_hash) {
          used = candidate;
          series = window;
          break search;
        }
      }
    }
  } else {
    // No hash recorded: the source whose label is the recorded one is the best guess, said so.
    used = sourceByLabel(label, found);
    series = used?.series ?? null;
  }
  const check: UsedPriceData["check"] =
    row.data_hash === null ? (series ? "unverified" : "none") : series ? "same" : "changed";
  // The prompt named the source by its recorded label: drawing with it keeps the charts' and
  // the prompts' text what the analysis had (a live label carries its fetch time).
  if (series && label) series = { ...series, source: { ...series.source, label } };
  const kindOf = used ?? sourceByLabel(label, found);
  const plain = kindOf ? plainSource(kindOf.series.source.kind, label) : null;
  const notes = changeNotes(row, found, used, check);
  if (check === "changed") {
    notes.unshift(
      `The price data changed since this analysis ran: none of the stored sources still holds the bars it used ` +
        `(sha256 ${row.data_hash?.slice(0, 12)}…), so the period and the charts cannot be reproduced.`,
    );
  }
  if (check === "unverified" && series) {
    notes.unshift(
      "This analysis recorded no hash of its price data: the period and the charts are from the current bars " +
        "of the same source, which may differ from what it saw.",
    );
  }
  if (used && series && series.bars.length < used.series.bars.length) {
    notes.push(
      `The analysis used ${series.bars.length} of the ${used.series.bars.length} bars stored now ` +
        `(${used.series.bars.length - series.bars.length} added since).`,
    );
  }
  return { label, plain, series, check, period: series ? periodOf(series) : null, notes };
}

/**
 * A label without what changes from one load to the next — its bar count and fetch time, and
 * the "cached" of a stale live feed — so a recorded label can be matched to a source now.
 */
const labelStem = (label: string) => label.replace(/^cached /, "").replace(/\s*\(\d+ bars.*$/, "");

/** The stored source whose label is the recorded one (bar counts and fetch times aside). */
function sourceByLabel(label: string | null, found: Candidate[]): Candidate | null {
  if (label === null) return null;
  return found.find((c) => labelStem(c.series.source.label) === labelStem(label)) ?? null;
}

/** Plain words for the source; a live label that says "cached" was a stale cache. */
function plainSource(kind: DataSource["kind"], label: string | null): string {
  return PLAIN_SOURCE[kind === "live" && label?.startsWith("cached ") ? "live-cached" : kind];
}
