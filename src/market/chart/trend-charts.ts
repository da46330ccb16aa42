import type { IndicatorSnapshot } from "../indicators.js";
import type { PriceSeries } from "../types.js";
import { type ChartSize, chartDocument, layoutFrame, priceDomain } from "./frame.js";
import { domainOf, type Panel } from "./layout.js";
import {
  band,
  COLORS,
  candles,
  emptyPanelNote,
  hasValues,
  indicatorLegend,
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
  WARMUP,
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
  const averageVolume = averageVolumeSeries(bars);
  return chartDocument(frame, series, title, [
    valueAxis(view, price, { keepClearOf: ind.lastClose }),
    band(view, price, bb.upper, bb.lower, COLORS.bollinger),
    candles(view, price),
    overlay(view, price, sma.s20, COLORS.sma20),
    overlay(view, price, sma.s50, COLORS.sma50),
    overlay(view, price, sma.s200, COLORS.sma200, 1.8),
    lastPriceTag(view, price, ind.lastClose, 2),
    indicatorLegend(view, price, "Price", [
      { label: "SMA 20", color: COLORS.sma20, series: sma.s20, needs: 20 },
      { label: "SMA 50", color: COLORS.sma50, series: sma.s50, needs: 50 },
      { label: "SMA 200", color: COLORS.sma200, series: sma.s200, needs: 200 },
      { label: "Bollinger (20, 2)", color: COLORS.bollinger, series: bb.upper, needs: WARMUP.bollinger },
    ]),
    valueAxis(view, vol, { count: 2 }),
    volumeBars(view, vol, averageVolume),
    indicatorLegend(view, vol, "Volume", [
      { label: "20-day average", color: COLORS.text, series: averageVolume, needs: WARMUP.averageVolume },
    ]),
    ...(hasValues(view, rsi)
      ? [
          valueAxis(view, rsiPanel, { ticks: [30, 50, 70] }),
          references(view, rsiPanel, [30, 70]),
          overlay(view, rsiPanel, rsi, COLORS.rsi),
          panelLegend(view, rsiPanel, `RSI (14) ${fmt(ind.rsi14, 1)}`),
        ]
      : emptyPanel(view, rsiPanel, "RSI (14)", WARMUP.rsi)),
    ...(hasValues(view, macd.macd)
      ? [
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
        ]
      : emptyPanel(view, macdPanel, "MACD (12, 26, 9)", WARMUP.macd)),
  ]);
}

/**
 * An oscillator panel with nothing to draw yet: its frame and name, no scale (it would
 * be made up) and, centred, how much history it needs.
 */
export function emptyPanel(view: View, panel: Panel, label: string, needs: number): string[] {
  return [
    valueAxis(view, panel, { ticks: [] }),
    panelLegend(view, panel, label),
    emptyPanelNote(view, panel, label, needs),
  ];
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
  const averageVolume = averageVolumeSeries(bars);
  return chartDocument(frame, series, title, [
    valueAxis(view, price, { keepClearOf: ind.lastClose }),
    candles(view, price),
    overlay(view, price, vwap, COLORS.vwap, 1.8),
    overlay(view, price, sma20, COLORS.sma20, 1.1, "4 3"),
    lastPriceTag(view, price, ind.lastClose, 2),
    indicatorLegend(view, price, "Price", [
      { label: "VWAP (20)", color: COLORS.vwap, series: vwap, needs: WARMUP.vwap },
      { label: "SMA 20", color: COLORS.sma20, series: sma20, needs: 20 },
    ]),
    valueAxis(view, vol, { count: 3 }),
    volumeBars(view, vol, averageVolume, { spikeRatio: 2 }),
    indicatorLegend(
      view,
      vol,
      hasValues(view, averageVolume)
        ? `Volume (last ${fmt(ind.volume.ratioToAverage20, 2)}x average; outlined: 2x or more)`
        : "Volume",
      [{ label: "20-day average", color: COLORS.text, series: averageVolume, needs: WARMUP.averageVolume }],
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
