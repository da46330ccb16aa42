/**
 * Writes the sample price files shipped in data/samples/ (run: npx tsx scripts/gen-samples.ts).
 *
 * - AAPL: real daily OHLCV copied from @observablehq/sample-datasets (ISC), Adj Close dropped.
 * - RELIANCE, TCS, INFY, HDFCBANK, MSFT: synthetic, from a seeded PRNG, so every run writes
 *   byte-identical files. They are labelled synthetic everywhere they surface.
 *
 * Every written file is read back through the project's own CSV parser, so a sample that
 * the app would refuse never ships.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parsePriceCsv } from "../src/market/csv.js";
import type { DataSource, PriceBar } from "../src/market/types.js";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const samplesDir = path.join(projectRoot, "data", "samples");
const datasetsDir = path.join(projectRoot, "node_modules", "@observablehq", "sample-datasets");

const LAST_DATE = "2026-11-20";
const BAR_COUNT = 1000;

interface SyntheticSpec {
  ticker: string;
  currency: string;
  exchange: string;
  /** The band the price should mostly stay in. */
  low: number;
  high: number;
  /** Daily volatility of log returns before fitting to the band (which trims it by about a third). */
  dailyVol: number;
  /** Typical shares traded per day. */
  baseVolume: number;
}

const SYNTHETIC: SyntheticSpec[] = [
  {
    ticker: "RELIANCE",
    currency: "INR",
    exchange: "NSE",
    low: 1300,
    high: 1500,
    dailyVol: 0.017,
    baseVolume: 9_500_000,
  },
  {
    ticker: "TCS",
    currency: "INR",
    exchange: "NSE",
    low: 3000,
    high: 4200,
    dailyVol: 0.017,
    baseVolume: 2_600_000,
  },
  {
    ticker: "INFY",
    currency: "INR",
    exchange: "NSE",
    low: 1400,
    high: 1900,
    dailyVol: 0.018,
    baseVolume: 7_000_000,
  },
  {
    ticker: "HDFCBANK",
    currency: "INR",
    exchange: "NSE",
    low: 1600,
    high: 1950,
    dailyVol: 0.016,
    baseVolume: 15_000_000,
  },
  {
    ticker: "MSFT",
    currency: "USD",
    exchange: "NASDAQ",
    low: 350,
    high: 500,
    dailyVol: 0.019,
    baseVolume: 21_000_000,
  },
];

interface ManifestEntry {
  ticker: string;
  file: string;
  currency: string;
  source: DataSource;
  license?: string;
}

// --- deterministic randomness -------------------------------------------------------------

/** mulberry32: tiny, fast, and the same sequence on every platform for a given seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a, so each ticker gets its own stable seed. */
function seedFor(text: string): number {
  let hash = 0x811c9dc5;
  for (const char of text) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function gaussian(random: () => number): number {
  // Box-Muller; 1 - u keeps log away from 0.
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

// --- calendar ------------------------------------------------------------------------------

/** The last `count` weekdays up to and including `lastDate`, ascending. Holidays are ignored. */
function weekdaysEndingOn(lastDate: string, count: number): string[] {
  const dates: string[] = [];
  const day = new Date(`${lastDate}T00:00:00Z`);
  while (dates.length < count) {
    const weekday = day.getUTCDay();
    if (weekday !== 0 && weekday !== 6) dates.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() - 1);
  }
  return dates.reverse();
}

// --- synthetic series ----------------------------------------------------------------------

interface Regime {
  name: string;
  /** Drift of the fair-value anchor, as a fraction of the log band per day. */
  anchorDrift: number;
  volMultiplier: number;
  volumeMultiplier: number;
}

const REGIMES: Regime[] = [
  { name: "bull", anchorDrift: 1 / 120, volMultiplier: 0.85, volumeMultiplier: 1.0 },
  { name: "bear", anchorDrift: -1 / 110, volMultiplier: 1.25, volumeMultiplier: 1.25 },
  { name: "sideways", anchorDrift: 0, volMultiplier: 0.75, volumeMultiplier: 0.8 },
  { name: "turbulent", anchorDrift: 0, volMultiplier: 1.8, volumeMultiplier: 1.6 },
];

/**
 * A geometric random walk whose log price is pulled toward a drifting "fair value" anchor.
 * The anchor follows regimes (bull, bear, sideways, turbulent) that switch at random and is
 * reflected inside the band, which keeps a ~4-year series near the requested price range
 * while daily moves keep a realistic size.
 */
function syntheticBars(spec: SyntheticSpec, dates: string[]): PriceBar[] {
  const random = mulberry32(seedFor(`stock-ledger:${spec.ticker}`));
  const logLow = Math.log(spec.low);
  const logHigh = Math.log(spec.high);
  const band = logHigh - logLow;
  const anchorMin = logLow + 0.3 * band;
  const anchorMax = logHigh - 0.3 * band;
  // Pull strong enough that the walk's spread around the anchor is about a sixth of the band:
  // an Ornstein-Uhlenbeck process has stationary sd = vol / sqrt(2 * reversion).
  const meanReversion = Math.min(0.25, 0.5 * (spec.dailyVol / (band / 6)) ** 2);

  let anchor = anchorMin + random() * (anchorMax - anchorMin);
  let logPrice = anchor;
  let previousClose = Math.exp(logPrice);
  let regime = REGIMES[Math.floor(random() * REGIMES.length)] as Regime;
  const bars: PriceBar[] = [];

  for (const date of dates) {
    if (random() < 1 / 45) regime = REGIMES[Math.floor(random() * REGIMES.length)] as Regime;
    anchor += regime.anchorDrift * band + 0.1 * band * 0.05 * gaussian(random);
    if (anchor > anchorMax || anchor < anchorMin) {
      anchor = Math.min(anchorMax, Math.max(anchorMin, anchor));
      regime = REGIMES[2] as Regime; // a trend that hits the band's edge stalls
    }

    const vol = spec.dailyVol * regime.volMultiplier;
    // Rare jumps give the fat tails real returns have.
    const jump = random() < 0.01 ? gaussian(random) * vol * 3 : 0;
    const logReturn = meanReversion * (anchor - logPrice) + vol * gaussian(random) + jump;
    logPrice += logReturn;

    const open = previousClose * Math.exp(0.3 * vol * gaussian(random));
    const close = Math.exp(logPrice);
    const high = Math.max(open, close) * Math.exp(Math.abs(gaussian(random)) * 0.45 * vol);
    const low = Math.min(open, close) * Math.exp(-Math.abs(gaussian(random)) * 0.45 * vol);
    const surprise = Math.abs(logReturn) / spec.dailyVol;
    const volume =
      spec.baseVolume * regime.volumeMultiplier * Math.exp(0.3 * gaussian(random)) * (0.7 + 0.3 * surprise);

    bars.push({ date, open, high, low, close, volume: Math.round(volume) });
    previousClose = close;
  }
  // Stop short of the band's edges by a random inset so the extremes are not round numbers.
  const edges = { low: spec.low * (1 + 0.01 * random()), high: spec.high * (1 - 0.01 * random()) };
  return fitToBand(bars, edges).map((bar) => ({
    ...bar,
    open: roundPrice(bar.open),
    high: roundPrice(bar.high),
    low: roundPrice(bar.low),
    close: roundPrice(bar.close),
  }));
}

/**
 * Stretches log prices so the lowest low and highest high land on the given edges. The map
 * is monotone, so OHLC relations hold; it scales volatility by a constant factor.
 */
function fitToBand(bars: PriceBar[], edges: { low: number; high: number }): PriceBar[] {
  const lowest = Math.log(Math.min(...bars.map((bar) => bar.low)));
  const highest = Math.log(Math.max(...bars.map((bar) => bar.high)));
  const scale = (Math.log(edges.high) - Math.log(edges.low)) / (highest - lowest);
  const mapPrice = (price: number) => Math.exp(Math.log(edges.low) + scale * (Math.log(price) - lowest));
  return bars.map((bar) => ({
    ...bar,
    open: mapPrice(bar.open),
    high: mapPrice(bar.high),
    low: mapPrice(bar.low),
    close: mapPrice(bar.close),
  }));
}

// Rounding is monotone, so high >= max(open, close) and low <= min(open, close) survive it.
function roundPrice(value: number): number {
  return Math.round(value * 100) / 100;
}

function toCsv(bars: PriceBar[]): string {
  const rows = bars.map((bar) =>
    [
      bar.date,
      bar.open.toFixed(2),
      bar.high.toFixed(2),
      bar.low.toFixed(2),
      bar.close.toFixed(2),
      bar.volume,
    ].join(","),
  );
  return `Date,Open,High,Low,Close,Volume\n${rows.join("\n")}\n`;
}

// --- real series ---------------------------------------------------------------------------

/** Keeps the upstream values verbatim; only the Adj Close column is dropped. */
function copyAaplCsv(): string {
  const lines = readFileSync(path.join(datasetsDir, "aapl.csv"), "utf8").trim().split(/\r?\n/);
  const header = (lines[0] ?? "").split(",");
  const keep = ["Date", "Open", "High", "Low", "Close", "Volume"].map((name) => {
    const index = header.indexOf(name);
    if (index === -1) throw new Error(`aapl.csv has no ${name} column`);
    return index;
  });
  return `${lines.map((line) => keep.map((index) => line.split(",")[index]).join(",")).join("\n")}\n`;
}

// --- main ----------------------------------------------------------------------------------

function writeChecked(file: string, csv: string, ticker: string): void {
  const bars = parsePriceCsv(csv, { ticker }).get(ticker) ?? [];
  const closes = bars.map((bar) => bar.close);
  const logReturns = closes.slice(1).map((close, i) => Math.log(close / (closes[i] ?? close)));
  const dailyVol = Math.sqrt(logReturns.reduce((sum, r) => sum + r * r, 0) / logReturns.length);
  console.log(
    `${file}: ${bars.length} bars ${bars[0]?.date} → ${bars.at(-1)?.date}, ` +
      `close ${Math.min(...closes)}–${Math.max(...closes)}, daily vol ${(dailyVol * 100).toFixed(2)}%`,
  );
  writeFileSync(path.join(samplesDir, file), csv);
}

function main(): void {
  mkdirSync(samplesDir, { recursive: true });
  const manifest: ManifestEntry[] = [];

  writeChecked("AAPL.csv", copyAaplCsv(), "AAPL");
  writeFileSync(
    path.join(samplesDir, "AAPL.LICENSE"),
    readFileSync(path.join(datasetsDir, "LICENSE"), "utf8"),
  );
  manifest.push({
    ticker: "AAPL",
    file: "AAPL.csv",
    currency: "USD",
    source: {
      kind: "sample-real",
      label: "real daily OHLCV, Yahoo Finance via @observablehq/sample-datasets (ISC)",
    },
    license: "ISC, Copyright 2024 Observable, Inc.; see AAPL.LICENSE",
  });

  const dates = weekdaysEndingOn(LAST_DATE, BAR_COUNT);
  for (const spec of SYNTHETIC) {
    const file = `${spec.ticker}.csv`;
    writeChecked(file, toCsv(syntheticBars(spec, dates)), spec.ticker);
    manifest.push({
      ticker: spec.ticker,
      file,
      currency: spec.currency,
      source: { kind: "sample-synthetic", label: `synthetic (seeded) — not real ${spec.exchange} prices` },
    });
  }

  const document = {
    note: "Written by scripts/gen-samples.ts; do not edit by hand. Synthetic series are not real market prices.",
    tickers: manifest,
  };
  writeFileSync(path.join(samplesDir, "manifest.json"), `${JSON.stringify(document, null, 2)}\n`);
}

main();
