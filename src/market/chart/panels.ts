import type { PriceBar } from "../types.js";
import { niceTicks, type Panel, tickLabel, type XScale } from "./layout.js";
import type { Series } from "./series.js";
import { bandBetween, HALO, line, num, pathThrough, rect, text } from "./svg.js";

export const COLORS = {
  up: "#16a34a",
  down: "#dc2626",
  upVolume: "#86efac",
  downVolume: "#fca5a5",
  grid: "#e5e7eb",
  axis: "#9ca3af",
  text: "#374151",
  muted: "#6b7280",
  sma20: "#f59e0b",
  sma50: "#2563eb",
  sma200: "#7c3aed",
  bollinger: "#64748b",
  vwap: "#0891b2",
  rsi: "#7c3aed",
  macd: "#2563eb",
  signal: "#f59e0b",
  obv: "#0f766e",
  adx: "#111827",
  support: "#15803d",
  resistance: "#b91c1c",
  pivot: "#6b7280",
} as const;

/** What every drawing function needs: the visible bars and where they sit. */
export interface View {
  /** The visible bars; series passed in are the full history and are sliced by `offset`. */
  bars: readonly PriceBar[];
  offset: number;
  x: XScale;
  plotLeft: number;
  plotRight: number;
}

/** Points of a full-history series inside the view, null where it has no value. */
export function pointsOf(view: View, panel: Panel, series: Series): ([number, number] | null)[] {
  return view.bars.map((_, i) => {
    const value = series[view.offset + i];
    return value === null || value === undefined ? null : [view.x.x(i), panel.y(value)];
  });
}

export function visible(view: View, series: Series): (number | null)[] {
  return view.bars.map((_, i) => series[view.offset + i] ?? null);
}

// The last-close tag and the axis labels share the column right of the plot. Both are placed
// relative to their value's y: the tag is a 14 px box centred on it, a label's baseline sits
// 3.5 px below it (10 px digits; the em box is taken as 9 px above the baseline, 2 below).
const TAG_HALF_HEIGHT = 7;
const TICK_LABEL_SPAN: [number, number] = [3.5 - 9, 3.5 + 2];

/** The vertical extent of the last-close tag on `panel`, or null when it is not drawn. */
function tagSpan(panel: Panel, close: number | null | undefined): [number, number] | null {
  if (close === null || close === undefined || !panel.contains(close)) return null;
  const y = panel.y(close);
  return [y - TAG_HALF_HEIGHT, y + TAG_HALF_HEIGHT];
}

/**
 * Horizontal grid lines with labels on the right axis. `keepClearOf` is the last close whose
 * tag lastPriceTag draws in the same column: a label the tag would cover (within 1 px) is
 * left out, its grid line kept.
 */
export function valueAxis(
  view: View,
  panel: Panel,
  opts: { ticks?: number[]; count?: number; keepClearOf?: number | null } = {},
): string {
  const ticks = opts.ticks ?? niceTicks(panel.min, panel.max, opts.count ?? 5);
  const step = ticks.length > 1 ? Math.abs((ticks[1] as number) - (ticks[0] as number)) : 1;
  const tag = tagSpan(panel, opts.keepClearOf);
  const coveredByTag = (y: number) =>
    tag !== null && y + TICK_LABEL_SPAN[0] < tag[1] + 1 && y + TICK_LABEL_SPAN[1] > tag[0] - 1;
  const parts = [
    rect(view.plotLeft, panel.top, view.plotRight - view.plotLeft, panel.height, {
      fill: "none",
      stroke: COLORS.axis,
      "stroke-width": 0.8,
    }),
  ];
  for (const tick of ticks) {
    if (!panel.contains(tick)) continue;
    const y = panel.y(tick);
    parts.push(
      line(view.plotLeft, y, view.plotRight, y, {
        stroke: COLORS.grid,
        "stroke-width": 1,
        "shape-rendering": "crispEdges",
      }),
    );
    if (coveredByTag(y)) continue;
    parts.push(
      text(view.plotRight + 5, y + 3.5, tickLabel(tick, step), {
        class: "tick-label",
        "font-size": 10,
        fill: COLORS.muted,
      }),
    );
  }
  return parts.join("");
}

/** The panel's name and a legend of coloured swatches, top left inside the panel. */
export function panelLegend(view: View, panel: Panel, title: string, items: [string, string][] = []): string {
  let x = view.plotLeft + 6;
  const y = panel.top + LEGEND_BASELINE;
  const parts = [text(x, y, title, { "font-size": 11, "font-weight": "bold", fill: COLORS.text })];
  x += title.length * 7.2 + 10; // bold 11 px runs about 7 px a character
  for (const [label, color] of items) {
    parts.push(rect(x, y - 7, 12, 3, { fill: color }));
    parts.push(text(x + 16, y, label, { class: "legend-item", "font-size": 10, fill: COLORS.text }));
    x += 16 + label.length * 6 + 12;
  }
  return parts.join("");
}

const LEGEND_BASELINE = 13;
const NOTE_LINE_HEIGHT = 14;

/** A line of a panel's legend: a series drawn on it and the bars it needs before its first value. */
export interface LegendLine {
  label: string;
  color: string;
  series: Series;
  needs: number;
}

/** The bars of history the view's series hold (the view shows the last of them). */
export function historyOf(view: View): number {
  return view.offset + view.bars.length;
}

/** True when the series has a value to draw in the view. */
export function hasValues(view: View, series: Series): boolean {
  return view.bars.some((_, i) => {
    const value = series[view.offset + i];
    return value !== null && value !== undefined;
  });
}

/** Why an indicator is not drawn: "SMA 200 needs 200 days; 30 available". */
export function missingHistory(label: string, needs: number, history: number): string {
  return history < needs
    ? `${label} needs ${needs} days; ${history} available`
    : `${label}: no values to show`;
}

/**
 * panelLegend listing only the lines drawn in the view; each one left out (too little history)
 * gets a note on its own row below the legend, from row `noteRow` (1 is the row just below).
 */
export function indicatorLegend(
  view: View,
  panel: Panel,
  title: string,
  lines: readonly LegendLine[],
  opts: { noteRow?: number } = {},
): string {
  const drawn = lines.filter((entry) => hasValues(view, entry.series));
  const missing = lines.filter((entry) => !hasValues(view, entry.series));
  const history = historyOf(view);
  const firstRow = opts.noteRow ?? 1;
  return (
    panelLegend(
      view,
      panel,
      title,
      drawn.map((entry) => [entry.label, entry.color]),
    ) +
    missing
      .map((entry, k) =>
        panelNote(
          view.plotLeft + 6,
          panel.top + LEGEND_BASELINE + NOTE_LINE_HEIGHT * (firstRow + k),
          missingHistory(entry.label, entry.needs, history),
          "start",
        ),
      )
      .join("")
  );
}

/** A note centred in a panel that has nothing to draw, in place of blank space. */
export function emptyPanelNote(view: View, panel: Panel, label: string, needs: number): string {
  const x = (view.plotLeft + view.plotRight) / 2;
  return panelNote(
    x,
    panel.top + panel.height / 2 + 4,
    missingHistory(label, needs, historyOf(view)),
    "middle",
  );
}

/** A note about the panel's indicators (why one is missing), haloed over the plot. */
export function panelNote(x: number, y: number, content: string, anchor: "start" | "middle"): string {
  return text(x, y, content, {
    class: "panel-note",
    "font-size": 10,
    fill: COLORS.muted,
    "text-anchor": anchor,
    ...HALO,
  });
}

/** OHLC candles: one path of wicks and one of bodies per colour keeps the document small. */
export function candles(view: View, panel: Panel): string {
  const bodyWidth = Math.max(1, view.x.step * 0.65);
  const paths = { up: { wicks: "", bodies: "" }, down: { wicks: "", bodies: "" } };
  view.bars.forEach((bar, i) => {
    const side = bar.close >= bar.open ? paths.up : paths.down;
    const x = view.x.x(i);
    side.wicks += `M${num(x)} ${num(panel.y(bar.high))}V${num(panel.y(bar.low))}`;
    const top = panel.y(Math.max(bar.open, bar.close));
    const height = Math.max(0.8, panel.y(Math.min(bar.open, bar.close)) - top);
    side.bodies += `M${num(x - bodyWidth / 2)} ${num(top)}h${num(bodyWidth)}v${num(height)}h${num(-bodyWidth)}Z`;
  });
  const wickWidth = Math.min(1.2, Math.max(0.6, view.x.step * 0.2));
  return (["up", "down"] as const)
    .map((side) => {
      const color = side === "up" ? COLORS.up : COLORS.down;
      const { wicks, bodies } = paths[side];
      return (
        (wicks ? `<path d="${wicks}" stroke="${color}" stroke-width="${num(wickWidth)}" fill="none"/>` : "") +
        (bodies ? `<path d="${bodies}" fill="${color}" shape-rendering="crispEdges"/>` : "")
      );
    })
    .join("");
}

export function overlay(
  view: View,
  panel: Panel,
  series: Series,
  color: string,
  width = 1.4,
  dash?: string,
): string {
  return pathThrough(pointsOf(view, panel, series), {
    stroke: color,
    "stroke-width": width,
    "stroke-dasharray": dash,
    "stroke-linejoin": "round",
  });
}

export function band(view: View, panel: Panel, upper: Series, lower: Series, color: string): string {
  return (
    bandBetween(pointsOf(view, panel, upper), pointsOf(view, panel, lower), {
      fill: color,
      "fill-opacity": 0.1,
    }) +
    overlay(view, panel, upper, color, 0.8) +
    overlay(view, panel, lower, color, 0.8)
  );
}

/** Volume bars coloured by the day's direction; bars at ≥ `spikeRatio` × average are outlined. */
export function volumeBars(
  view: View,
  panel: Panel,
  average: Series | null,
  opts: { spikeRatio?: number } = {},
): string {
  const width = Math.max(1, view.x.step * 0.7);
  let up = "";
  let down = "";
  let spikes = "";
  view.bars.forEach((bar, i) => {
    const x = view.x.x(i) - width / 2;
    const top = panel.y(bar.volume);
    const segment = `M${num(x)} ${num(top)}h${num(width)}V${num(panel.bottom)}h${num(-width)}Z`;
    if (bar.close >= bar.open) up += segment;
    else down += segment;
    const avg = average?.[view.offset + i];
    if (opts.spikeRatio !== undefined && avg != null && avg > 0 && bar.volume >= opts.spikeRatio * avg) {
      spikes += segment;
    }
  });
  return (
    (up ? `<path d="${up}" fill="${COLORS.upVolume}" shape-rendering="crispEdges"/>` : "") +
    (down ? `<path d="${down}" fill="${COLORS.downVolume}" shape-rendering="crispEdges"/>` : "") +
    (spikes ? `<path d="${spikes}" fill="none" stroke="${COLORS.text}" stroke-width="1"/>` : "") +
    (average === null ? "" : overlay(view, panel, average, COLORS.text, 1.1))
  );
}

/** A horizontal level across the plot with its label at the right edge. */
export function level(
  view: View,
  panel: Panel,
  value: number,
  color: string,
  label: string,
  opts: { from?: number; to?: number; dash?: string; labelAt?: "left" | "right" } = {},
): string {
  if (!panel.contains(value)) return "";
  const y = panel.y(value);
  const from = opts.from ?? view.plotLeft;
  const to = opts.to ?? view.plotRight;
  const label_ =
    opts.labelAt === "left"
      ? text(from + 4, y - 3, label, { "font-size": 9.5, fill: color, ...HALO })
      : text(to - 3, y - 3, label, { "font-size": 9.5, fill: color, "text-anchor": "end", ...HALO });
  return (
    line(from, y, to, y, { stroke: color, "stroke-width": 1, "stroke-dasharray": opts.dash ?? "5 3" }) +
    label_
  );
}

/** Fixed reference lines of an oscillator (RSI 30/70, ADX 20/25, MACD 0). */
export function references(view: View, panel: Panel, values: number[], color = COLORS.axis): string {
  return values
    .filter((value) => panel.contains(value))
    .map((value) =>
      line(view.plotLeft, panel.y(value), view.plotRight, panel.y(value), {
        stroke: color,
        "stroke-width": 0.8,
        "stroke-dasharray": "3 3",
      }),
    )
    .join("");
}

/** Small annotation text over the plot, haloed. */
export function note(
  x: number,
  y: number,
  content: string,
  color: string,
  anchor: "start" | "middle" | "end" = "middle",
): string {
  return text(x, y, content, { "font-size": 9.5, fill: color, "text-anchor": anchor, ...HALO });
}

/**
 * The last close as a tag on the price axis. Pass the same close to that panel's valueAxis
 * (`keepClearOf`) so no tick label sits under the tag.
 */
export function lastPriceTag(view: View, panel: Panel, close: number | null, decimals: number): string {
  const span = tagSpan(panel, close);
  if (span === null || close === null) return "";
  const y = panel.y(close);
  const label = close.toFixed(decimals);
  return (
    line(view.plotLeft, y, view.plotRight, y, {
      stroke: COLORS.text,
      "stroke-width": 0.6,
      "stroke-dasharray": "2 2",
    }) +
    rect(view.plotRight + 1, span[0], label.length * 6.2 + 6, span[1] - span[0], {
      class: "last-close",
      fill: COLORS.text,
      rx: 2,
    }) +
    text(view.plotRight + 4, y + 3.5, label, { class: "last-close", "font-size": 10, fill: "#ffffff" })
  );
}
