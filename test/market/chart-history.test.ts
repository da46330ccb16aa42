import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildChartSvg, CHART_KINDS, type ChartKind } from "../../src/market/chart/chart-kinds.js";
import type { ChartSize } from "../../src/market/chart/frame.js";
import { tickLabel } from "../../src/market/chart/layout.js";
import { DEFAULT_CHART_SIZE, renderChartPng } from "../../src/market/chart/render.js";
import {
  adxSeries,
  averageVolumeSeries,
  bollingerSeries,
  donchianSeries,
  macdSeries,
  rsiSeries,
  type Series,
  vwapSeries,
  WARMUP,
} from "../../src/market/chart/series.js";
import { computeIndicators } from "../../src/market/indicators.js";
import type { PriceSeries } from "../../src/market/types.js";
import { barsFromCloses } from "./fixtures.js";

// Charts of tickers with little history (a fresh import), checked on the SVG the PNG is drawn from.

type Attrs = Record<string, string>;

function attrsOf(source: string): Attrs {
  return Object.fromEntries([...source.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

function texts(svg: string): { attrs: Attrs; content: string }[] {
  return [...svg.matchAll(/<text\b([^>]*)>([^<]*)<\/text>/g)].map((m) => ({
    attrs: attrsOf(m[1] ?? ""),
    content: (m[2] ?? "").replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code))),
  }));
}

const legendItems = (svg: string) =>
  texts(svg)
    .filter((t) => t.attrs.class === "legend-item")
    .map((t) => t.content);
const panelNotes = (svg: string) =>
  texts(svg)
    .filter((t) => t.attrs.class === "panel-note")
    .map((t) => t.content);

function seriesOf(closes: number[]): PriceSeries {
  const bars = barsFromCloses(closes);
  return {
    ticker: "NEW",
    currency: "INR",
    source: { kind: "imported", label: `imported CSV (${bars.length} bars)` },
    bars,
  };
}

function svgOf(series: PriceSeries, kind: ChartKind, size: ChartSize = DEFAULT_CHART_SIZE): string {
  return buildChartSvg(series, computeIndicators(series.bars), kind, size);
}

/** A wavy series of `count` closes around 100. */
const wavy = (count: number, last?: number) => {
  const closes = Array.from({ length: count }, (_, i) => 100 + 4 * Math.sin(i / 3) + i * 0.05);
  if (last !== undefined) closes[count - 1] = last;
  return closes;
};

describe("charts with little history", () => {
  const thirty = seriesOf(wavy(30));

  it("leave indicators without enough bars out of the legend and say why on the panel", () => {
    const svg = svgOf(thirty, "overview");
    expect(legendItems(svg)).toEqual(["SMA 20", "Bollinger (20, 2)", "20-day average"]);
    expect(svg).not.toMatch(/>SMA 50</);
    expect(svg).not.toMatch(/>SMA 200</);
    expect(panelNotes(svg)).toEqual([
      "SMA 50 needs 50 days; 30 available",
      "SMA 200 needs 200 days; 30 available",
      "MACD (12, 26, 9) needs 34 days; 30 available",
    ]);
  });

  it("put a note in an empty MACD panel instead of blank space, with no legend or axis for lines not drawn", () => {
    const svg = svgOf(thirty, "overview");
    for (const item of ["MACD", "signal", "histogram"]) expect(svg).not.toMatch(new RegExp(`>${item}<`));
    const note = texts(svg).find((t) => t.content.startsWith("MACD (12, 26, 9) needs"));
    expect(note?.attrs["text-anchor"]).toBe("middle");
    // Centred in the bottom panel: below every RSI tick label (the panel above it).
    const rsi70 = texts(svg).find((t) => t.content === "70");
    expect(Number(note?.attrs.y)).toBeGreaterThan(Number(rsi70?.attrs.y) + 40);
    // The panel has no meaningless -1..1 scale.
    expect(texts(svg).filter((t) => t.attrs.class === "tick-label" && /^-?1$/.test(t.content))).toEqual([]);

    // With enough history the panel draws its lines and lists them.
    const long = svgOf(seriesOf(wavy(60)), "overview");
    expect(legendItems(long)).toEqual(
      expect.arrayContaining(["SMA 20", "SMA 50", "MACD", "signal", "histogram"]),
    );
    expect(panelNotes(long)).toEqual(["SMA 200 needs 200 days; 60 available"]);
  });

  it("do the same on the other chart kinds", () => {
    const ten = seriesOf(wavy(10));
    expect(panelNotes(svgOf(ten, "reversal"))).toEqual([
      "SMA 20 needs 20 days; 10 available",
      "RSI (14) needs 15 days; 10 available",
    ]);
    expect(legendItems(svgOf(ten, "reversal"))).not.toContain("SMA 20");
    expect(panelNotes(svgOf(ten, "volume"))).toEqual([
      "VWAP (20) needs 20 days; 10 available",
      "SMA 20 needs 20 days; 10 available",
      "20-day average needs 20 days; 10 available",
    ]);
    expect(panelNotes(svgOf(thirty, "levels"))).toEqual(["SMA 50 needs 50 days; 30 available"]);
    expect(panelNotes(svgOf(seriesOf(wavy(20)), "levels"))).toEqual([
      "SMA 50 needs 50 days; 20 available",
      "20-bar range needs 21 days; 20 available",
      "ADX (14) needs 27 days; 20 available",
    ]);
    for (const kind of CHART_KINDS) {
      expect(panelNotes(svgOf(seriesOf(wavy(250)), kind)), kind).toEqual([]);
    }
  });

  it("state the bars each indicator needs as the series really need them", () => {
    const bars = barsFromCloses(wavy(300));
    const firstValue = (series: Series) => series.findIndex((value) => value !== null) + 1;
    expect(firstValue(bollingerSeries(bars).upper)).toBe(WARMUP.bollinger);
    expect(firstValue(rsiSeries(bars))).toBe(WARMUP.rsi);
    expect(firstValue(macdSeries(bars).macd)).toBe(WARMUP.macd);
    expect(firstValue(adxSeries(bars).adx)).toBe(WARMUP.adx);
    expect(firstValue(vwapSeries(bars))).toBe(WARMUP.vwap);
    expect(firstValue(averageVolumeSeries(bars))).toBe(WARMUP.averageVolume);
    expect(firstValue(donchianSeries(bars).upper)).toBe(WARMUP.donchian);
  });
});

describe("the last-close tag", () => {
  /** The tag (the one rounded rect) and the price axis labels beside it, as vertical spans. */
  function tagAndLabels(svg: string) {
    const tags = [...svg.matchAll(/<rect\b([^>]*)\/>/g)].map((m) => attrsOf(m[1] ?? "")).filter((a) => a.rx);
    expect(tags).toHaveLength(1);
    const tag = tags[0] as Attrs;
    const top = Number(tag.y);
    const bottom = top + Number(tag.height);
    // Axis labels start 4 px right of the tag's left edge; digits at 10 px reach 7.5 px above the baseline.
    const labels = texts(svg)
      .filter((t) => Number(t.attrs.x) === Number(tag.x) + 4 && t.attrs.fill !== "#ffffff")
      .map((t) => ({ content: t.content, top: Number(t.attrs.y) - 7.5, bottom: Number(t.attrs.y) + 0.5 }));
    return { top, bottom, labels };
  }

  it("never covers a y-axis tick label, whatever the last close", () => {
    let near = 0;
    for (const size of [DEFAULT_CHART_SIZE, { width: 640, height: 480 }]) {
      for (let k = 0; k <= 40; k++) {
        const last = 97 + k * 0.2;
        for (const kind of CHART_KINDS) {
          const svg = svgOf(seriesOf(wavy(30, last)), kind, size);
          const { top, bottom, labels } = tagAndLabels(svg);
          expect(labels.length, `${kind} ${last}`).toBeGreaterThan(0);
          for (const label of labels) {
            const overlaps = label.top < bottom && label.bottom > top;
            expect(
              overlaps,
              `${kind} ${size.width}: tag ${top}-${bottom} covers label ${label.content}`,
            ).toBe(false);
            if (label.top < bottom + 10 && label.bottom > top - 10) near++;
          }
        }
      }
    }
    // Labels do sit close to the tag in this sweep: the check above is not vacuous.
    expect(near).toBeGreaterThan(0);
  });

  it("keeps the grid line of a tick whose label it hides", () => {
    // A last close exactly on a tick of the price axis.
    const svg = svgOf(seriesOf(wavy(30, 100)), "reversal");
    const { top, bottom } = tagAndLabels(svg);
    const mid = (top + bottom) / 2;
    const gridLines = [...svg.matchAll(/<line\b([^>]*)\/>/g)]
      .map((m) => attrsOf(m[1] ?? ""))
      .filter((a) => a.y1 === a.y2 && a.stroke === "#e5e7eb");
    expect(gridLines.some((a) => Math.abs(Number(a.y1) - mid) < 1)).toBe(true);
    const tickLabels = texts(svg).filter((t) => t.attrs.class === "tick-label");
    expect(tickLabels.length).toBeGreaterThan(3);
    expect(tickLabels.filter((t) => Math.abs(Number(t.attrs.y) - 3.5 - mid) < 1)).toEqual([]);
  });
});

describe("tickLabel", () => {
  it("prints as many decimals as the step has", () => {
    expect(tickLabel(97.5, 2.5)).toBe("97.5");
    expect(tickLabel(100, 2.5)).toBe("100.0");
    expect(tickLabel(100, 20)).toBe("100");
    expect(tickLabel(0.25, 0.25)).toBe("0.25");
    expect(tickLabel(1.2, 0.2)).toBe("1.2");
    expect(tickLabel(25_000, 5_000)).toBe("25k");
  });
});

describe("a 30-bar chart as a PNG", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sl-chart-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(CHART_KINDS)("renders %s", async (kind) => {
    const series = seriesOf(wavy(30));
    const image = await renderChartPng(series, computeIndicators(series.bars), kind);
    expect(image).toMatchObject({ width: 1024, height: 768 });
    await writeFile(path.join(dir, `${kind}.png`), image.png);
    expect(image.png.readUInt32BE(16)).toBe(1024);
  });
});
