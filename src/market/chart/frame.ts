import type { PriceSeries } from "../types.js";
import { domainOf, monthLabel, monthStarts, Panel, XScale } from "./layout.js";
import { COLORS, type View } from "./panels.js";
import { el, line, rect, text } from "./svg.js";

export interface ChartSize {
  width: number;
  height: number;
}

const MARGIN = { left: 10, right: 66, top: 48, bottom: 22, gap: 8 };

/** The visible window of a series and the panels stacked in it. */
export interface Frame {
  view: View;
  size: ChartSize;
  /** Panels top to bottom, sized by the weights given. */
  panels: Panel[];
}

/**
 * Lays out the last `windowBars` bars over the full width and splits the height into panels
 * by `weights`; `domains` gives each panel's value range (the price panel's is padded there).
 */
export function layoutFrame(
  series: PriceSeries,
  size: ChartSize,
  opts: {
    windowBars: number;
    extraSlots?: number;
    weights: number[];
    domains: ((view: View) => [number, number])[];
  },
): Frame {
  const count = Math.min(opts.windowBars, series.bars.length);
  const offset = series.bars.length - count;
  const plotLeft = MARGIN.left;
  const plotRight = size.width - MARGIN.right;
  const view: View = {
    bars: series.bars.slice(offset),
    offset,
    x: new XScale(count, plotLeft, plotRight, opts.extraSlots ?? 0),
    plotLeft,
    plotRight,
  };
  const available = size.height - MARGIN.top - MARGIN.bottom - MARGIN.gap * (opts.weights.length - 1);
  const total = opts.weights.reduce((sum, weight) => sum + weight, 0);
  let top = MARGIN.top;
  const panels = opts.weights.map((weight, i) => {
    const height = (available * weight) / total;
    const [min, max] = opts.domains[i]?.(view) ?? [0, 1];
    const panel = new Panel(top, height, min, max);
    top += height + MARGIN.gap;
    return panel;
  });
  return { view, size, panels };
}

/** Price range of the visible bars plus any extra values that must stay in view. */
export function priceDomain(view: View, extra: Iterable<number | null> = []): [number, number] {
  const values: (number | null)[] = [...extra];
  for (const bar of view.bars) values.push(bar.high, bar.low);
  return domainOf(values, 0.04);
}

/** The document: white ground, title and subtitle, month grid and labels, then the panels' parts. */
export function chartDocument(frame: Frame, series: PriceSeries, title: string, body: string[]): string {
  const { view, size, panels } = frame;
  const first = view.bars[0];
  const last = view.bars.at(-1);
  const subtitle = [
    `daily, ${view.bars.length} bars`,
    first && last ? `${first.date} to ${last.date}` : "",
    last ? `last close ${last.close.toFixed(2)} ${series.currency}` : "",
    `source: ${series.source.label}`,
  ]
    .filter((part) => part !== "")
    .join("  ·  ");
  const bottom = panels.at(-1)?.bottom ?? size.height - MARGIN.bottom;
  const months = monthStarts(
    view.bars.map((bar) => bar.date),
    Math.ceil(70 / Math.max(view.x.step, 0.1)),
  );
  const grid = months.map((i) => {
    const x = view.x.edge(i);
    const label = monthLabel(view.bars[i]?.date ?? "");
    return (
      panels.map((p) => line(x, p.top, x, p.bottom, { stroke: COLORS.grid, "stroke-width": 0.8 })).join("") +
      line(x, bottom, x, bottom + 4, { stroke: COLORS.axis, "stroke-width": 0.8 }) +
      text(x, bottom + 15, label, { "font-size": 10, fill: COLORS.muted, "text-anchor": "middle" })
    );
  });
  const content = [
    rect(0, 0, size.width, size.height, { fill: "#ffffff" }),
    text(MARGIN.left, 19, truncateToWidth(title, size.width - 2 * MARGIN.left, 8.6), {
      "font-size": 15,
      "font-weight": "bold",
      fill: COLORS.text,
    }),
    text(MARGIN.left, 36, truncateToWidth(subtitle, size.width - 2 * MARGIN.left, 6), {
      "font-size": 11,
      fill: COLORS.muted,
    }),
    ...grid,
    ...body,
  ].join("");
  return el(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      width: size.width,
      height: size.height,
      viewBox: `0 0 ${size.width} ${size.height}`,
      "font-family": "sans-serif",
    },
    content,
  );
}

/** Cuts text to about the characters that fit in `width` px at `charWidth` px each. */
function truncateToWidth(content: string, width: number, charWidth: number): string {
  const max = Math.floor(width / charWidth);
  return content.length <= max ? content : `${content.slice(0, max - 1)}…`;
}
