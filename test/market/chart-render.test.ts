import { inflateSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { buildChartSvg, CHART_KINDS } from "../../src/market/chart/chart-kinds.js";
import { chartFonts } from "../../src/market/chart/fonts.js";
import {
  DEFAULT_CHART_SIZE,
  renderChartPng,
  renderStageCharts,
  STAGE_CHART_KINDS,
} from "../../src/market/chart/render.js";
import { computeIndicators, type IndicatorSnapshot } from "../../src/market/indicators.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";
import type { PriceSeries } from "../../src/market/types.js";
import { barsFromCloses } from "./fixtures.js";

/** Width, height and decoded pixel rows of a PNG, read by hand from its chunks. */
function readPng(png: Buffer): { width: number; height: number; colorType: number; rawBytes: number } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const idat: Buffer[] = [];
  let header: Buffer | undefined;
  let offset = 8;
  let sawEnd = false;
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") header = data;
    if (type === "IDAT") idat.push(data);
    if (type === "IEND") sawEnd = true;
    offset += 12 + length;
  }
  expect(sawEnd).toBe(true);
  if (header === undefined) throw new Error("no IHDR");
  return {
    width: header.readUInt32BE(0),
    height: header.readUInt32BE(4),
    colorType: header[9] as number,
    rawBytes: inflateSync(Buffer.concat(idat)).length,
  };
}

let series: PriceSeries;
let indicators: IndicatorSnapshot;
beforeAll(async () => {
  const loaded = await new SamplePriceProvider().load("RELIANCE");
  if (loaded === null) throw new Error("no RELIANCE sample");
  series = loaded;
  indicators = computeIndicators(series.bars);
});

describe("renderChartPng", () => {
  it.each(CHART_KINDS)("renders a valid 1024x768 PNG for %s, under 200 KB", async (kind) => {
    const image = await renderChartPng(series, indicators, kind);
    expect(image).toMatchObject({ kind, width: 1024, height: 768, mimeType: "image/png" });
    const png = readPng(image.png);
    expect(png).toMatchObject({ width: 1024, height: 768 });
    // Every row decodes: one filter byte plus 1024 RGBA pixels.
    expect(png.rawBytes).toBe(768 * (1 + 1024 * 4));
    expect(image.png.length).toBeLessThan(200 * 1024);
  });

  it("is byte-for-byte repeatable, so stored charts and prompts stay stable", async () => {
    const first = await renderChartPng(series, indicators, "reversal");
    const second = await renderChartPng(series, indicators, "reversal");
    expect(second.png.equals(first.png)).toBe(true);
  });

  it("renders other sizes and series too short for most indicators", async () => {
    const short: PriceSeries = {
      ...series,
      ticker: "NEW",
      bars: barsFromCloses([10, 10.5, 10.25, 10.8, 10.6]),
    };
    for (const kind of CHART_KINDS) {
      const svg = buildChartSvg(short, computeIndicators(short.bars), kind, { width: 640, height: 480 });
      expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    }
    const image = await renderChartPng(short, computeIndicators(short.bars), "levels", {
      width: 640,
      height: 480,
    });
    expect(readPng(image.png)).toMatchObject({ width: 640, height: 480 });
  });

  it("draws the levels, pivots and patterns the prompt states", () => {
    const levels = buildChartSvg(series, indicators, "levels", DEFAULT_CHART_SIZE);
    expect(levels).toContain(`P ${indicators.pivots?.pivot.toFixed(2)}`);
    for (const level of indicators.levels.support)
      expect(levels).toContain(`support ${level.price.toFixed(2)}`);
    const reversal = buildChartSvg(series, indicators, "reversal", DEFAULT_CHART_SIZE);
    for (const pattern of indicators.patterns.doubles) {
      expect(reversal).toContain(`neckline ${pattern.neckline.price.toFixed(2)}`);
    }
    const overview = buildChartSvg(series, indicators, "overview", DEFAULT_CHART_SIZE);
    expect(overview).toContain(`source: ${series.source.label}`);
  });

  it("refuses an empty series", async () => {
    await expect(renderChartPng({ ...series, bars: [] }, computeIndicators([]), "overview")).rejects.toThrow(
      /no bars/,
    );
  });
});

describe("renderStageCharts", () => {
  it("renders one chart per picture-reading stage", async () => {
    const charts = await renderStageCharts(series, indicators);
    expect(Object.keys(charts).sort()).toEqual(
      ["comprehensive_overview", "continuation_levels", "reversal_patterns", "volume_analysis"].sort(),
    );
    for (const [stage, image] of Object.entries(charts)) {
      expect(image.kind).toBe(STAGE_CHART_KINDS[stage as keyof typeof STAGE_CHART_KINDS]);
    }
  });
});

describe("chart fonts", () => {
  it("names the family of the font file it found, or falls back to a system scan", () => {
    const fonts = chartFonts();
    if (fonts.family === null) {
      expect(fonts).toEqual({ files: [], family: null, loadSystemFonts: true });
    } else {
      expect(fonts.files.length).toBeGreaterThan(0);
      expect(fonts.loadSystemFonts).toBe(false);
    }
  });
});
