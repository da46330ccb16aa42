import {
  type IndicatorSnapshot,
  PATTERN_LOOKBACK,
  RECENT_BREAKOUT_BARS,
  RECENT_CANDLE_BARS,
} from "./indicators.js";
import type { PriceLevel } from "./levels.js";
import type { PriceSeries } from "./types.js";

/**
 * The market data block every stage prompt starts with. It is a shared prompt prefix (and
 * so a cache key), so it depends only on its inputs: fixed decimals, no clock, no locale.
 * The "Last close: N" line is parsed by the Gemini emulator with /Last close: ([\d.]+)/.
 */
export function formatMarketBrief(
  series: PriceSeries,
  ind: IndicatorSnapshot,
  opts: { recentBars?: number } = {},
): string {
  const recentBars = Math.max(0, opts.recentBars ?? 30);
  const first = series.bars[0];
  const last = series.bars.at(-1);
  const ma = ind.movingAverages;
  const lines = [
    "## Market data",
    `Ticker: ${series.ticker}`,
    `Currency: ${series.currency}`,
    `Data source: ${series.source.label}`,
    `Bars: ${series.bars.length} daily${first && last ? `, ${first.date} to ${last.date}` : ""}`,
    `Last close: ${price(last?.close ?? null)}`,
    `Last bar date: ${last?.date ?? "n/a"}`,
    `Change: 1d ${signedPct(ind.change.pct1d)} | 5d ${signedPct(ind.change.pct5d)} | 20d ${signedPct(ind.change.pct20d)}`,
    `52-week range: ${yearRange(ind)}`,
    `Volume: last ${count(ind.volume.last)} | 20d avg ${count(ind.volume.average20)} | ratio ${fixed(ind.volume.ratioToAverage20, 2)}`,
    "",
    "## Indicators (as of the last bar)",
    `SMA: 20 ${price(ma.sma20)} | 50 ${price(ma.sma50)} | 200 ${price(ma.sma200)}`,
    `EMA: 20 ${price(ma.ema20)} | 50 ${price(ma.ema50)} | 200 ${price(ma.ema200)}`,
    `RSI(14): ${fixed(ind.rsi14, 2)}`,
    `MACD(12,26,9): ${ind.macd ? `macd ${fixed(ind.macd.macd, 4)} | signal ${fixed(ind.macd.signal, 4)} | histogram ${fixed(ind.macd.histogram, 4)}` : "n/a"}`,
    `Stochastic(14,3): ${ind.stochastic ? `%K ${fixed(ind.stochastic.k, 2)} | %D ${fixed(ind.stochastic.d, 2)}` : "n/a"}`,
    `Bollinger(20,2): ${bollinger(ind)}`,
    `ATR(14): ${price(ind.atr14)}`,
    `ADX(14): ${ind.adx ? `${fixed(ind.adx.adx, 2)} | +DI ${fixed(ind.adx.plusDI, 2)} | -DI ${fixed(ind.adx.minusDI, 2)}` : "n/a"}`,
    `OBV: ${ind.obv ? `${count(ind.obv.value)} | 20d trend ${ind.obv.trend20 ?? "n/a"}` : "n/a"}`,
    `VWAP(20d): ${price(ind.vwap20)}`,
    "",
    "## Support and resistance (swing-point clusters, nearest first)",
    `Support: ${levelList(ind.levels.support)}`,
    `Resistance: ${levelList(ind.levels.resistance)}`,
    ...regimeLines(ind),
    ...pivotLines(ind),
    ...patternLines(ind),
  ];
  const recent = series.bars.slice(Math.max(0, series.bars.length - recentBars)); // slice(-0) would take all
  if (recent.length > 0) {
    lines.push("", `## Last ${recent.length} bars`, "date,open,high,low,close,volume");
    for (const bar of recent) {
      lines.push(
        [
          bar.date,
          price(bar.open),
          price(bar.high),
          price(bar.low),
          price(bar.close),
          count(bar.volume),
        ].join(","),
      );
    }
  }
  return lines.join("\n");
}

function regimeLines(ind: IndicatorSnapshot): string[] {
  const trend = ind.trend;
  const v = ind.volumeRegime;
  const [fast, slow] = (trend?.basis ?? "sma50/sma200").toUpperCase().split("/");
  const trendLine =
    trend === null
      ? "n/a"
      : `${trend.label} | ${fast} ${trend.fastAboveSlow ? "above" : "below"} ${slow} | ADX ${fixed(ind.adx?.adx ?? null, 2)}`;
  const tagged = (value: number | null, tag: string | null) =>
    value === null && tag === null ? "n/a" : `${fixed(value, 2)}${tag === null ? "" : ` (${tag})`}`;
  return [
    "",
    "## Trend and volume regime",
    `Trend: ${trendLine}`,
    `Volume: 20d/50d average ${tagged(v.trendRatio, v.trend)} | last bar ${v.lastBar ?? "n/a"} | up/down volume (20d) ${tagged(v.upDownRatio, v.pressure)}`,
  ];
}

function pivotLines(ind: IndicatorSnapshot): string[] {
  const p = ind.pivots;
  if (p === null) return [];
  return [
    "",
    `## Pivot levels (classic floor pivots from ${p.basedOn}, for the next session)`,
    `P ${price(p.pivot)} | R1 ${price(p.r1)} | R2 ${price(p.r2)} | R3 ${price(p.r3)} | S1 ${price(p.s1)} | S2 ${price(p.s2)} | S3 ${price(p.s3)}`,
  ];
}

function patternLines(ind: IndicatorSnapshot): string[] {
  const { candles, doubles, breakouts } = ind.patterns;
  const candleText =
    candles.length === 0
      ? "none"
      : candles.map((c) => `${c.date} ${c.pattern.replaceAll("_", " ")} (${c.bias})`).join(" | ");
  const double = (kind: "double_top" | "double_bottom") => {
    const d = doubles.find((pattern) => pattern.kind === kind);
    if (d === undefined) return "none";
    const state = d.status === "confirmed" ? `confirmed ${d.confirmedDate}` : "forming";
    const ends = kind === "double_top" ? "peaks" : "troughs";
    return `${state}: ${ends} ${price(d.first.price)} (${d.first.date}) and ${price(d.second.price)} (${d.second.date}), neckline ${price(d.neckline.price)}`;
  };
  const breakoutText =
    breakouts.length === 0
      ? "none"
      : breakouts
          .map(
            (b) =>
              `${b.date} ${b.direction === "up" ? "above resistance" : "below support"} ${price(b.level)}, close ${price(b.close)}, volume ${fixed(b.volumeRatio, 2)}x average (${b.volumeConfirmed ? "confirmed" : "unconfirmed"})`,
          )
          .join(" | ");
  return [
    "",
    "## Patterns",
    `Candlesticks (last ${RECENT_CANDLE_BARS} bars): ${candleText}`,
    `Double top (last ${PATTERN_LOOKBACK} bars): ${double("double_top")}`,
    `Double bottom (last ${PATTERN_LOOKBACK} bars): ${double("double_bottom")}`,
    `Breakouts of the 20-bar range (last ${RECENT_BREAKOUT_BARS} bars): ${breakoutText}`,
  ];
}

function yearRange(ind: IndicatorSnapshot): string {
  const range = ind.week52;
  if (range === null) return "n/a";
  const span = range.fullYear ? "" : " (less than a year of data)";
  return `high ${price(range.high)} (${range.highDate}) | low ${price(range.low)} (${range.lowDate})${span}`;
}

function bollinger(ind: IndicatorSnapshot): string {
  const bands = ind.bollinger;
  if (bands === null) return "n/a";
  const bandwidth = bands.bandwidth === null ? "n/a" : `${fixed(bands.bandwidth * 100, 2)}%`;
  return `upper ${price(bands.upper)} | middle ${price(bands.middle)} | lower ${price(bands.lower)} | %B ${fixed(bands.percentB, 3)} | bandwidth ${bandwidth}`;
}

function levelList(levels: readonly PriceLevel[]): string {
  if (levels.length === 0) return "none found";
  return levels
    .map((level) => `${price(level.price)} (${level.touches}x, last ${level.lastTouched})`)
    .join(" | ");
}

function price(value: number | null): string {
  return fixed(value, 2);
}

function count(value: number | null): string {
  return fixed(value, 0);
}

function signedPct(value: number | null): string {
  if (value === null) return "n/a";
  const text = fixed(value, 2);
  return `${text.startsWith("-") ? "" : "+"}${text}%`;
}

/** Fixed decimals without "-0.00", which would read as a sign where there is none. */
function fixed(value: number | null, decimals: number): string {
  if (value === null || !Number.isFinite(value)) return "n/a";
  const text = value.toFixed(decimals);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}
