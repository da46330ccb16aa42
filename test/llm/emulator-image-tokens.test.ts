import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { GoogleGenerativeAI, type Part } from "@google/generative-ai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type EmulatorHandle,
  imageTokens,
  jpegSize,
  pngSize,
  startEmulator,
  TOKENS_PER_IMAGE,
  tokensForChars,
} from "../../src/llm/emulator/index.js";
import { cacheManagerFor, marketData, modelFor, raw } from "./emulator-helpers.js";

/** Image tokens tiled from the image's own header, as Gemini 2.x bills them, through the real SDK. */

let handle: EmulatorHandle;

beforeEach(async () => {
  handle = await startEmulator();
});
afterEach(async () => {
  await handle.close();
});

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG signature and IHDR chunk (8-bit RGBA): all the emulator reads. */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr)]);
}

/** SOI, a JFIF APP0 segment, then a baseline SOF0 frame header. */
function jpegHeader(width: number, height: number): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const sof0 = Buffer.from([0xff, 0xc0, 0x00, 0x11, 8, 0, 0, 0, 0, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  sof0.writeUInt16BE(height, 5);
  sof0.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof0]);
}

const image = (mimeType: string, bytes: Buffer): Part => ({
  inlineData: { mimeType, data: bytes.toString("base64") },
});
const png = (width: number, height: number): Part => image("image/png", pngHeader(width, height));

describe("imageTokens, pngSize and jpegSize", () => {
  it("bills small images as one tile and tiles larger ones by floor(min side / 1.5)", () => {
    expect(TOKENS_PER_IMAGE).toBe(258);
    expect(imageTokens(300, 200)).toBe(258);
    expect(imageTokens(384, 384)).toBe(258);
    expect(imageTokens(1024, 768)).toBe(1032); // unit 512: 2 × 2 tiles
    expect(imageTokens(768, 768)).toBe(1032); // unit 512: 2 × 2 tiles
    expect(imageTokens(385, 100)).toBe(258 * 6 * 2); // unit 66
    expect(imageTokens(1000, 1)).toBe(258 * 1000); // a 1-px side: 1-px units, not a division by 0
    expect(imageTokens(0, 500)).toBe(258);
    expect(imageTokens(Number.NaN, 500)).toBe(258);
  });

  it("reads PNG and JPEG headers and refuses anything else", () => {
    expect(pngSize(pngHeader(1024, 768).toString("base64"))).toEqual({ width: 1024, height: 768 });
    const chart = readFileSync(new URL("../../docs/charts/RELIANCE-overview.png", import.meta.url));
    expect(pngSize(chart.toString("base64"))).toEqual({ width: 1024, height: 768 });
    expect(jpegSize(jpegHeader(1920, 1080).toString("base64"))).toEqual({ width: 1920, height: 1080 });

    expect(pngSize(Buffer.from("not really a png").toString("base64"))).toBeNull();
    expect(pngSize(pngHeader(0, 768).toString("base64"))).toBeNull();
    const notIhdr = pngHeader(1024, 768);
    notIhdr.write("IDAT", 12, "latin1");
    expect(pngSize(notIhdr.toString("base64"))).toBeNull();
    expect(pngSize("")).toBeNull();
    expect(jpegSize(pngHeader(1024, 768).toString("base64"))).toBeNull();
    expect(jpegSize(jpegHeader(1920, 1080).subarray(0, 25).toString("base64"))).toBeNull();
  });
});

describe("image tokens through the SDK", () => {
  const text = "Describe the chart.";

  it("bills a 300×200 PNG as 258 and a 1024×768 PNG as 1032, alike in usage and countTokens", async () => {
    const model = modelFor(handle, { callType: "comprehensive_overview" });
    for (const [part, tokens] of [
      [png(300, 200), 258],
      [png(1024, 768), 1032],
      [image("image/jpeg", jpegHeader(1024, 768)), 1032],
      [image("image/png", Buffer.from("not really a png")), 258],
    ] as const) {
      const usage = raw((await model.generateContent([text, part])).response).usageMetadata;
      expect(usage?.promptTokenCount).toBe(tokensForChars(text.length) + tokens);
      expect(usage?.promptTokensDetails).toEqual([
        { modality: "TEXT", tokenCount: tokensForChars(text.length) },
        { modality: "IMAGE", tokenCount: tokens },
      ]);
      expect((await model.countTokens([text, part])).totalTokens).toBe(usage?.promptTokenCount);
    }
  });

  it("sums the tiles of every image in promptTokensDetails IMAGE", async () => {
    const model = modelFor(handle);
    const parts = [text, png(1024, 768), png(300, 200), png(2048, 512)];
    const imageTotal = 1032 + 258 + imageTokens(2048, 512);
    expect(imageTokens(2048, 512)).toBe(258 * 7 * 2); // unit 341
    const usage = raw((await model.generateContent(parts)).response).usageMetadata;
    expect(usage?.promptTokensDetails).toContainEqual({ modality: "IMAGE", tokenCount: imageTotal });
    expect(usage?.promptTokenCount).toBe(tokensForChars(text.length) + imageTotal);
    expect(await model.countTokens(parts)).toEqual({
      totalTokens: tokensForChars(text.length) + imageTotal,
      promptTokensDetails: usage?.promptTokensDetails,
    });
  });

  it("continues an implicit-cache prefix through identical images, each with its own tiles", async () => {
    const system = "You are a technical analyst.";
    const model = modelFor(handle, { systemInstruction: system });
    const chart = png(1024, 768);
    const data = marketData("RELIANCE", 2874.35);
    await model.generateContent([data, chart, chart, "Stage: indicator_summary"]);
    const usage = raw(
      (await model.generateContent([data, chart, chart, "Stage: volume_analysis"])).response,
    ).usageMetadata;
    const shared = Math.floor((system.length + data.length + "Stage: ".length) / 4) + 2064;
    const cached = Math.floor(shared / 256) * 256;
    expect(usage?.cachedContentTokenCount).toBe(cached);
    expect(usage?.cacheTokensDetails).toEqual([
      { modality: "TEXT", tokenCount: cached - 2064 },
      { modality: "IMAGE", tokenCount: 2064 },
    ]);
    expect(usage?.promptTokensDetails).toContainEqual({ modality: "IMAGE", tokenCount: 2064 });

    // A different image ends the shared prefix: only the text before it is left.
    const other = raw(
      (await model.generateContent([data, png(1024, 767), chart, "Stage: x"])).response,
    ).usageMetadata;
    const textOnly = Math.floor(Math.floor((system.length + data.length) / 4) / 256) * 256;
    expect(other?.cacheTokensDetails).toEqual([{ modality: "TEXT", tokenCount: textOnly }]);
  });

  it("counts a cachedContents entry's images by the same rule", async () => {
    const system = "You are a technical analyst.";
    const data = marketData("TCS", 3456.7);
    const cache = await cacheManagerFor(handle).create({
      model: "gemini-2.5-flash",
      systemInstruction: system,
      contents: [{ role: "user", parts: [{ text: data }, png(1024, 768), png(1024, 768)] }],
      ttlSeconds: 300,
    });
    const cacheTokens = tokensForChars(system.length + data.length) + 2064;
    expect(raw(cache).usageMetadata).toEqual({ totalTokenCount: cacheTokens });

    const request = "Stage: volume_analysis";
    const cachedModel = new GoogleGenerativeAI("test-key").getGenerativeModelFromCachedContent(
      cache,
      undefined,
      { baseUrl: handle.url },
    );
    const usage = raw((await cachedModel.generateContent(request)).response).usageMetadata;
    expect(usage?.cachedContentTokenCount).toBe(cacheTokens);
    expect(usage?.cacheTokensDetails).toEqual([
      { modality: "TEXT", tokenCount: cacheTokens - 2064 },
      { modality: "IMAGE", tokenCount: 2064 },
    ]);
    expect(usage?.promptTokenCount).toBe(cacheTokens + tokensForChars(request.length));
    expect((await cachedModel.countTokens(request)).totalTokens).toBe(usage?.promptTokenCount);
  });
});
