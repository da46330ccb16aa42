import { findCandlePatterns } from "../candles.js";
import { findBreakouts } from "../chart-patterns.js";
import type { IndicatorSnapshot } from "../indicators.js";
import type { PriceSeries } from "../types.js";
import { type ChartSize, chartDocument, layoutFrame, priceDomain } from "./frame.js";
import { domainOf, type Panel } from "./layout.js";
import {
  COLORS,
  candles,
  hasValues,
  historyOf,
  indicatorLegend,
  lastPriceTag,
  level,
  missingHistory,
  note,
  overlay,
  panelLegend,
  panelNote,
  references,
  type View,
  valueAxis,
  visible,
  volumeBars,
} from "./panels.js";
import { adxSeries, averageVolumeSeries, donchianSeries, rsiSeries, smaSeries, WARMUP } from "./series.js";
import { circle, diamond, line, text, triangle } from "./svg.js";
import { emptyPanel, fmt, volumeDomain } from "./trend-charts.js";

const ABBREVIATIONS = {
  bullish_engulfing: "BE",
  bearish_engulfing: "BE",
  hammer: "H",
  shooting_star: "SS",
  doji: "D",
};

const markerSize = (view: View) => Math.max(5.5, Math.min(7, view.x.step * 0.5));

/** reversal_patterns: 90 candles with each candlestick pattern marked, the double top/bottom of the brief, RSI. */
export function reversalChart(
  series: PriceSeries,
  ind: IndicatorSnapshot,
  size: ChartSize,
  title: string,
): string {
  const bars = series.bars;
  const sma20 = smaSeries(bars, 20);
  const frame = layoutFrame(series, size, {
    windowBars: 90,
    weights: [62, 13, 25],
    domains: [(v) => priceDomain(v, visible(v, sma20)), volumeDomain, () => [0, 100]],
  });
  const { view } = frame;
  const [price, vol, rsiPanel] = frame.panels;
  if (!price || !vol || !rsiPanel) throw new Error("reversal chart needs three panels");
  const s = markerSize(view);
  const gap = 4;
  const markers = findCandlePatterns(bars, view.offset).map((p) => {
    const i = p.index - view.offset;
    const bar = view.bars[i];
    if (bar === undefined) return "";
    const x = view.x.x(i);
    const label = ABBREVIATIONS[p.pattern];
    if (p.bias === "bullish") {
      const y = price.y(bar.low) + gap;
      return triangle(x, y, s, true, { fill: COLORS.up }) + note(x, y + s + 10, label, COLORS.up);
    }
    const y = price.y(bar.high) - gap;
    const mark =
      p.bias === "bearish"
        ? triangle(x, y, s, false, { fill: COLORS.down })
        : diamond(x, y - s / 2, s * 0.6, { fill: COLORS.muted });
    return mark + note(x, y - s - 3, label, p.bias === "bearish" ? COLORS.down : COLORS.muted);
  });
  const lx = view.plotLeft + 58;
  const ly = price.top + 13;
  const rsi = rsiSeries(bars);
  const smaLegend = hasValues(view, sma20)
    ? line(lx + 418, ly - 4, lx + 430, ly - 4, { stroke: COLORS.sma20, "stroke-width": 2 }) +
      text(lx + 434, ly, "SMA 20", legendText())
    : panelNote(view.plotLeft + 6, ly + 14, missingHistory("SMA 20", 20, historyOf(view)), "start");
  return chartDocument(frame, series, title, [
    valueAxis(view, price, { keepClearOf: ind.lastClose }),
    candles(view, price),
    overlay(view, price, sma20, COLORS.sma20, 1.1),
    ...doublePatterns(view, price, ind),
    ...markers,
    lastPriceTag(view, price, ind.lastClose, 2),
    panelLegend(view, price, "Price"),
    triangle(lx, ly - 9, 5, true, { fill: COLORS.up }),
    text(lx + 8, ly, "bullish", legendText()),
    triangle(lx + 58, ly, 5, false, { fill: COLORS.down }),
    text(lx + 66, ly, "bearish", legendText()),
    diamond(lx + 120, ly - 4, 4, { fill: COLORS.muted }),
    text(lx + 128, ly, "doji (D)   ·   BE engulfing, H hammer, SS shooting star", legendText()),
    smaLegend,
    valueAxis(view, vol, { count: 2 }),
    volumeBars(view, vol, averageVolumeSeries(bars)),
    panelLegend(view, vol, "Volume"),
    ...(hasValues(view, rsi)
      ? [
          valueAxis(view, rsiPanel, { ticks: [30, 50, 70] }),
          references(view, rsiPanel, [30, 70]),
          overlay(view, rsiPanel, rsi, COLORS.rsi),
          panelLegend(
            view,
            rsiPanel,
            `RSI (14) ${fmt(ind.rsi14, 1)}: above 70 overbought, below 30 oversold`,
          ),
        ]
      : emptyPanel(view, rsiPanel, "RSI (14)", WARMUP.rsi)),
  ]);
}

/** The double top and bottom the brief names: both peaks circled, the neckline dotted to its break. */
function doublePatterns(view: View, price: Panel, ind: IndicatorSnapshot): string[] {
  return ind.patterns.doubles
    .filter((d) => d.first.index >= view.offset)
    .map((d) => {
      const top = d.kind === "double_top";
      const color = top ? COLORS.down : COLORS.up;
      const at = (index: number) => view.x.x(index - view.offset);
      const broke =
        d.confirmedDate === null ? -1 : view.bars.findIndex((bar) => bar.date === d.confirmedDate);
      const end = broke === -1 ? view.bars.length - 1 : broke;
      const neck = price.y(d.neckline.price);
      const name = `${top ? "double top" : "double bottom"} (${d.status}), neckline ${d.neckline.price.toFixed(2)}`;
      const peak = (p: { index: number; price: number }, label: string) =>
        circle(at(p.index), price.y(p.price), 7, { fill: "none", stroke: color, "stroke-width": 1.6 }) +
        note(at(p.index) + 10, price.y(p.price) + 3.5, label, color, "start");
      return (
        peak(d.first, top ? "top 1" : "bottom 1") +
        peak(d.second, top ? "top 2" : "bottom 2") +
        line(at(d.first.index), neck, view.x.x(end), neck, {
          stroke: color,
          "stroke-width": 1.2,
          "stroke-dasharray": "2 3",
        }) +
        note(at(d.first.index), neck + (top ? 13 : -5), name, color, "start")
      );
    });
}

/** continuation_levels: support/resistance, the 20-bar range and its breakouts, next-session pivots, ADX. */
export function levelsChart(
  series: PriceSeries,
  ind: IndicatorSnapshot,
  size: ChartSize,
  title: string,
): string {
  const bars = series.bars;
  const sma20 = smaSeries(bars, 20);
  const sma50 = smaSeries(bars, 50);
  const range = donchianSeries(bars);
  const adx = adxSeries(bars);
  const p = ind.pivots;
  const levels = [...ind.levels.support, ...ind.levels.resistance].map((l) => l.price);
  const pivotValues = p === null ? [] : [p.pivot, p.r1, p.r2, p.s1, p.s2];
  const frame = layoutFrame(series, size, {
    windowBars: 120,
    extraSlots: 12, // room right of the last bar for the next session's pivots
    weights: [64, 14, 22],
    domains: [
      (v) => priceDomain(v, [...pivotValues, ...levels, ...visible(v, sma50)]),
      volumeDomain,
      (v) => [
        0,
        Math.max(
          50,
          domainOf([...visible(v, adx.adx), ...visible(v, adx.plusDI), ...visible(v, adx.minusDI)])[1],
        ),
      ],
    ],
  });
  const { view } = frame;
  const [price, vol, adxPanel] = frame.panels;
  if (!price || !vol || !adxPanel) throw new Error("levels chart needs three panels");
  const nextSession = view.x.edge(view.bars.length) + 2;
  const s = markerSize(view);
  const breakouts = findBreakouts(bars)
    .filter((b) => b.index >= view.offset)
    .map((b) => {
      const i = b.index - view.offset;
      const bar = view.bars[i];
      if (bar === undefined) return "";
      const up = b.direction === "up";
      const color = up ? COLORS.up : COLORS.down;
      const style = b.volumeConfirmed
        ? { fill: color }
        : { fill: "#ffffff", stroke: color, "stroke-width": 1.4 };
      return triangle(view.x.x(i), up ? price.y(bar.low) + 4 : price.y(bar.high) - 4, s, up, style);
    });
  const pivotLines =
    p === null
      ? []
      : (
          [
            ["R2", p.r2, COLORS.resistance],
            ["R1", p.r1, COLORS.resistance],
            ["P", p.pivot, COLORS.pivot],
            ["S1", p.s1, COLORS.support],
            ["S2", p.s2, COLORS.support],
          ] as const
        ).map(([name, value, color]) =>
          level(view, price, value, color, `${name} ${value.toFixed(2)}`, {
            from: nextSession,
            dash: "none",
          }),
        );
  const averageVolume = averageVolumeSeries(bars);
  const srLine = (value: number, color: string, label: string) =>
    level(view, price, value, color, label, { to: nextSession - 4, labelAt: "left" });
  return chartDocument(frame, series, title, [
    valueAxis(view, price, { keepClearOf: ind.lastClose }),
    overlay(view, price, range.upper, COLORS.axis, 1, "1 2"),
    overlay(view, price, range.lower, COLORS.axis, 1, "1 2"),
    candles(view, price),
    overlay(view, price, sma20, COLORS.sma20, 1.1),
    overlay(view, price, sma50, COLORS.sma50, 1.3),
    ...ind.levels.support.map((l) =>
      srLine(l.price, COLORS.support, `support ${l.price.toFixed(2)} (${touches(l.touches)})`),
    ),
    ...ind.levels.resistance.map((l) =>
      srLine(l.price, COLORS.resistance, `resistance ${l.price.toFixed(2)} (${touches(l.touches)})`),
    ),
    ...breakouts,
    ...pivotLines,
    line(nextSession, price.top, nextSession, price.bottom, {
      stroke: COLORS.axis,
      "stroke-width": 0.8,
      "stroke-dasharray": "2 2",
    }),
    note(nextSession + 4, price.bottom - 6, "next session", COLORS.muted, "start"),
    lastPriceTag(view, price, ind.lastClose, 2),
    indicatorLegend(
      view,
      price,
      "Price",
      [
        { label: "SMA 20", color: COLORS.sma20, series: sma20, needs: 20 },
        { label: "SMA 50", color: COLORS.sma50, series: sma50, needs: 50 },
        { label: "20-bar range", color: COLORS.axis, series: range.upper, needs: WARMUP.donchian },
      ],
      { noteRow: 2 }, // row 1 explains the triangles
    ),
    text(
      view.plotLeft + 6,
      price.top + 27,
      "triangles: closes through the 20-bar range (filled: volume 1.5x its average or more)",
      legendText(),
    ),
    valueAxis(view, vol, { count: 2 }),
    volumeBars(view, vol, averageVolume),
    indicatorLegend(view, vol, "Volume", [
      { label: "20-day average", color: COLORS.text, series: averageVolume, needs: WARMUP.averageVolume },
    ]),
    ...(hasValues(view, adx.adx)
      ? [
          valueAxis(view, adxPanel, { count: 3 }),
          references(view, adxPanel, [20, 25]),
          overlay(view, adxPanel, adx.plusDI, COLORS.up, 1.1),
          overlay(view, adxPanel, adx.minusDI, COLORS.down, 1.1),
          overlay(view, adxPanel, adx.adx, COLORS.adx, 1.6),
          panelLegend(view, adxPanel, `ADX (14) ${fmt(ind.adx?.adx ?? null, 1)}, 20/25 dashed`, [
            ["+DI", COLORS.up],
            ["-DI", COLORS.down],
          ]),
        ]
      : emptyPanel(view, adxPanel, "ADX (14)", WARMUP.adx)),
  ]);
}

function legendText() {
  return { class: "legend-item", "font-size": 10, fill: COLORS.text };
}

function touches(count: number): string {
  return count === 1 ? "1 touch" : `${count} touches`;
}
