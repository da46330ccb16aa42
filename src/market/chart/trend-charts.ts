import type { IndicatorSnapshot } from "../indicators.js";
import type { PriceSeries } from "../types.js";
import { type ChartSize, chartDocument, layoutFrame, priceDomain } from "./frame.js";
import { domainOf } from "./layout.js";
import {
  band,
  COLORS,
  candles,
  lastPriceTag,
  overlay,
  panelLegend,
  references,
  type View,
  valueAxis,
  visible,
  volumeBars,
} from "./panels.js";
import {
  averageVolumeSeries,
  bollingerSeries,
  macdSeries,
  obvSeries,
  rsiSeries,
  smaSeries,
  vwapSeries,
} from "./series.js";
import { line } from "./svg.js";

export const volumeDomain = (view: View): [number, number] => [
  0,
  domainOf(
    view.bars.map((bar) => bar.volume),
    0.08,
  )[1],
];

/** comprehensive_overview: a year of candles with the averages and bands, volume, RSI and MACD. */
export function overviewChart(
  series: PriceSeries,
  ind: IndicatorSnapshot,
  size: ChartSize,
  title: string,
): string {
  const bars = series.bars;
  const sma = { s20: smaSeries(bars, 20), s50: smaSeries(bars, 50), s200: smaSeries(bars, 200) };
  const bb = bollingerSeries(bars);
  const rsi = rsiSeries(bars);
  const macd = macdSeries(bars);
  const frame = layoutFrame(series, size, {
    windowBars: 250,
    weights: [55, 13, 15, 17],
    domains: [
      (v) => priceDomain(v, [...visible(v, bb.upper), ...visible(v, bb.lower), ...visible(v, sma.s200)]),
      volumeDomain,
      () => [0, 100],
      (v) => symmetric([...visible(v, macd.macd), ...visible(v, macd.signal), ...visible(v, macd.histogram)]),
    ],
  });
  const { view } = frame;
  const [price, vol, rsiPanel, macdPanel] = frame.panels;
  if (!price || !vol || !rsiPanel || !macdPanel) throw new Error("overview chart needs four panels");
  const zero = macdPanel.y(0);
  const histWidth = Math.max(1, view.x.step * 0.6);
  const histogram = visible(view, macd.histogram).map((value, i) =>
    value === null
      ? ""
      : line(view.x.x(i), zero, view.x.x(i), macdPanel.y(value), {
          stroke: value >= 0 ? COLORS.upVolume : COLORS.downVolume,
          "stroke-width": histWidth,
        }),
  );
  return chartDocument(frame, series, title, [
    valueAxis(view, price),
    band(view, price, bb.upper, bb.lower, COLORS.bollinger),
    candles(view, price),
    overlay(view, price, sma.s20, COLORS.sma20),
    overlay(view, price, sma.s50, COLORS.sma50),
    overlay(view, price, sma.s200, COLORS.sma200, 1.8),
    lastPriceTag(view, price, ind.lastClose ?? 0, 2),
    panelLegend(view, price, "Price", [
      ["SMA 20", COLORS.sma20],
      ["SMA 50", COLORS.sma50],
      ["SMA 200", COLORS.sma200],
      ["Bollinger (20, 2)", COLORS.bollinger],
    ]),
    valueAxis(view, vol, { count: 2 }),
    volumeBars(view, vol, averageVolumeSeries(bars)),
    panelLegend(view, vol, "Volume", [["20-day average", COLORS.text]]),
    valueAxis(view, rsiPanel, { ticks: [30, 50, 70] }),
    references(view, rsiPanel, [30, 70]),
    overlay(view, rsiPanel, rsi, COLORS.rsi),
    panelLegend(view, rsiPanel, `RSI (14) ${fmt(ind.rsi14, 1)}`),
    valueAxis(view, macdPanel, { count: 3 }),
    references(view, macdPanel, [0]),
    ...histogram,
    overlay(view, macdPanel, macd.macd, COLORS.macd),
    overlay(view, macdPanel, macd.signal, COLORS.signal),
    panelLegend(view, macdPanel, "MACD (12, 26, 9)", [
      ["MACD", COLORS.macd],
      ["signal", COLORS.signal],
      ["histogram", COLORS.upVolume],
    ]),
  ]);
}

/** volume_analysis: six months of candles with VWAP, volume against its average (spikes outlined), OBV. */
export function volumeChart(
  series: PriceSeries,
  ind: IndicatorSnapshot,
  size: ChartSize,
  title: string,
): string {
  const bars = series.bars;
  const vwap = vwapSeries(bars);
  const sma20 = smaSeries(bars, 20);
  const obv = obvSeries(bars);
  const frame = layoutFrame(series, size, {
    windowBars: 120,
    weights: [50, 28, 22],
    domains: [(v) => priceDomain(v, visible(v, vwap)), volumeDomain, (v) => domainOf(visible(v, obv), 0.08)],
  });
  const { view } = frame;
  const [price, vol, obvPanel] = frame.panels;
  if (!price || !vol || !obvPanel) throw new Error("volume chart needs three panels");
  return chartDocument(frame, series, title, [
    valueAxis(view, price),
    candles(view, price),
    overlay(view, price, vwap, COLORS.vwap, 1.8),
    overlay(view, price, sma20, COLORS.sma20, 1.1, "4 3"),
    lastPriceTag(view, price, ind.lastClose ?? 0, 2),
    panelLegend(view, price, "Price", [
      ["VWAP (20)", COLORS.vwap],
      ["SMA 20", COLORS.sma20],
    ]),
    valueAxis(view, vol, { count: 3 }),
    volumeBars(view, vol, averageVolumeSeries(bars), { spikeRatio: 2 }),
    panelLegend(
      view,
      vol,
      `Volume (last ${fmt(ind.volume.ratioToAverage20, 2)}x average; outlined: 2x or more)`,
      [["20-day average", COLORS.text]],
    ),
    valueAxis(view, obvPanel, { count: 3 }),
    overlay(view, obvPanel, obv, COLORS.obv, 1.6),
    panelLegend(view, obvPanel, `On-balance volume (20-day trend ${ind.obv?.trend20 ?? "n/a"})`),
  ]);
}

function symmetric(values: Iterable<number | null>): [number, number] {
  const [min, max] = domainOf(values, 0.08);
  const extent = Math.max(Math.abs(min), Math.abs(max)) || 1;
  return [-extent, extent];
}

export function fmt(value: number | null, decimals: number): string {
  return value === null ? "n/a" : value.toFixed(decimals);
}
