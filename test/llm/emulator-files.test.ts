import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { GoogleGenerativeAIFetchError, Part } from "@google/generative-ai";
import { GoogleAIFileManager } from "@google/generative-ai/server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EmulatorHandle, type EmulatorOptions, startEmulator } from "../../src/llm/emulator/index.js";
import { cacheManagerFor, marketData, modelFor, raw } from "./emulator-helpers.js";

/** The Files API as GoogleAIFileManager speaks it, and prompts that refer to uploaded files. */

const chart = (name: string) => readFileSync(new URL(`../../docs/charts/${name}.png`, import.meta.url));
const OVERVIEW = chart("RELIANCE-overview");
const VOLUME = chart("RELIANCE-volume");
const inline = (bytes: Buffer): Part => ({
  inlineData: { mimeType: "image/png", data: bytes.toString("base64") },
});
const file = (fileUri: string): Part => ({ fileData: { mimeType: "image/png", fileUri } });

let handle: EmulatorHandle;
const start = async (options: EmulatorOptions = {}) => {
  handle = await startEmulator(options);
  return handle;
};
afterEach(async () => {
  await handle.close();
});

const filesOf = (h: EmulatorHandle) => new GoogleAIFileManager("test-key", { baseUrl: h.url });

/** What the SDK threw for an HTTP error (the server bundle has its own copy of the error class). */
async function failure(promise: Promise<unknown>): Promise<GoogleGenerativeAIFetchError> {
  const error = await promise.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect((error as { constructor?: { name?: string } }).constructor?.name).toBe(
    "GoogleGenerativeAIFetchError",
  );
  return error as GoogleGenerativeAIFetchError;
}

describe("files resource", () => {
  beforeEach(() => start());

  it("takes a multipart upload of a Buffer and answers Gemini's File resource", async () => {
    const before = Date.now();
    const { file: uploaded } = await filesOf(handle).uploadFile(OVERVIEW, {
      mimeType: "image/png",
      displayName: "overview",
    });
    expect(uploaded).toMatchObject({
      name: expect.stringMatching(/^files\/[a-z0-9]+$/),
      displayName: "overview",
      mimeType: "image/png",
      sizeBytes: String(OVERVIEW.length),
      state: "ACTIVE",
      uri: `${handle.url}/v1beta/${uploaded.name}`,
    });
    const lifetime = Date.parse(uploaded.expirationTime) - before;
    expect(lifetime).toBeGreaterThan(48 * 3600_000 - 60_000);
    expect(lifetime).toBeLessThanOrEqual(48 * 3600_000 + 60_000);
    expect(Buffer.from(uploaded.sha256Hash, "base64").toString()).toMatch(/^[0-9a-f]{64}$/);

    expect(await filesOf(handle).getFile(uploaded.name)).toEqual(uploaded);
    expect((await filesOf(handle).listFiles()).files).toEqual([uploaded]);
    expect(handle.files()).toEqual([
      {
        name: uploaded.name,
        uri: uploaded.uri,
        mimeType: "image/png",
        sizeBytes: OVERVIEW.length,
        expirationTime: uploaded.expirationTime,
      },
    ]);
    // Raw bytes travel, not base64: the body is the file plus a little multipart framing.
    const traffic = handle.traffic();
    expect(traffic.filesUploaded).toBe(1);
    expect(traffic.requests.uploadFile).toBe(1);
    expect(traffic.requestBytes.uploadFile).toBeGreaterThan(OVERVIEW.length);
    expect(traffic.requestBytes.uploadFile).toBeLessThan(OVERVIEW.length + 1024);
  });

  it("deletes a file; then get, delete and prompts naming it answer 403 as Gemini does", async () => {
    const manager = filesOf(handle);
    const { file: uploaded } = await manager.uploadFile(OVERVIEW, { mimeType: "image/png" });
    await manager.deleteFile(uploaded.name);
    expect(handle.files()).toEqual([]);
    const id = uploaded.name.replace("files/", "");
    const message = `You do not have permission to access the File ${id} or it may not exist.`;
    for (const attempt of [() => manager.getFile(uploaded.name), () => manager.deleteFile(uploaded.name)]) {
      const error = await failure(attempt());
      expect(error.status).toBe(403);
      expect(error.message).toContain(message);
    }
    const error = await failure(modelFor(handle).generateContent(["Describe.", file(uploaded.uri)]));
    expect(error.status).toBe(403);
    expect(error.message).toContain(message);
    expect(handle.requestLog().at(-1)).toMatchObject({ method: "generateContent", status: 403 });
  });

  it("refuses a uri that is no file reference with 400", async () => {
    const error = await failure(
      modelFor(handle).countTokens(["Describe.", file("https://example.com/chart.png")]),
    );
    expect(error.status).toBe(400);
    expect(error.message).toContain("Invalid or unsupported file uri");
  });

  it("refuses uploads without the multipart protocol, and names already taken", async () => {
    const response = await fetch(`${handle.url}/upload/v1beta/files`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: OVERVIEW,
    });
    expect(response.status).toBe(400);
    await filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png", name: "chart-1" });
    const error = await failure(
      filesOf(handle).uploadFile(VOLUME, { mimeType: "image/png", name: "chart-1" }),
    );
    expect(error.status).toBe(409);
  });

  it("suffers transport faults aimed at uploads, leaving generateContent alone", async () => {
    handle.setFaults([{ kind: "server_error", method: "uploadFile", times: 1 }]);
    expect((await failure(filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png" }))).status).toBe(500);
    await filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png" });
    await modelFor(handle).generateContent("Hello");
    expect(handle.requestLog().map((entry) => [entry.method, entry.status, entry.fault])).toEqual([
      ["uploadFile", 500, "server_error"],
      ["uploadFile", 200, null],
      ["generateContent", 200, null],
    ]);
    expect(handle.traffic().requests).toEqual({ uploadFile: 2, generateContent: 1 });
    expect(handle.traffic().filesUploaded).toBe(1);
  });

  it("serves the file list and traffic counters on /_emulator", async () => {
    const { file: uploaded } = await filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png" });
    const files = (await (await fetch(`${handle.url}/_emulator/files`)).json()) as {
      files: { name: string }[];
    };
    expect(files).toEqual({ files: handle.files() });
    expect(files.files[0]?.name).toBe(uploaded.name);
    expect(await (await fetch(`${handle.url}/_emulator/traffic`)).json()).toEqual(handle.traffic());
  });
});

describe("file lifetime and bound", () => {
  it("expires files after fileTtlMs", async () => {
    await start({ fileTtlMs: 100 });
    const { file: uploaded } = await filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png" });
    await modelFor(handle).generateContent(["Describe.", file(uploaded.uri)]);
    await sleep(150);
    expect((await failure(modelFor(handle).generateContent(["Describe.", file(uploaded.uri)]))).status).toBe(
      403,
    );
    expect(handle.files()).toEqual([]);
  });

  it("drops the least recently used files beyond maxFileBytes", async () => {
    await start({ maxFileBytes: OVERVIEW.length + VOLUME.length });
    const manager = filesOf(handle);
    const first = (await manager.uploadFile(OVERVIEW, { mimeType: "image/png" })).file;
    const second = (await manager.uploadFile(VOLUME, { mimeType: "image/png" })).file;
    await modelFor(handle).countTokens(["Describe.", file(first.uri)]); // first is now the most recent
    const third = (await manager.uploadFile(VOLUME, { mimeType: "image/png" })).file;
    expect(handle.files().map((f) => f.name)).toEqual([first.name, third.name]);
    expect((await failure(manager.getFile(second.name))).status).toBe(403);
  });
});

describe("a file is billed as the same image inline", () => {
  beforeEach(() => start());

  it("in generateContent usage and countTokens, by modality", async () => {
    const { file: uploaded } = await filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png" });
    const model = modelFor(handle, { callType: "comprehensive_overview" });
    const viaFile = raw((await model.generateContent(["Describe the chart.", file(uploaded.uri)])).response);
    // Another emulator, so the first call's implicit-cache entry cannot serve this one.
    const reference = await startEmulator();
    const viaInline = raw(
      (
        await modelFor(reference, { callType: "comprehensive_overview" }).generateContent([
          "Describe the chart.",
          inline(OVERVIEW),
        ])
      ).response,
    );
    await reference.close();
    expect(viaFile.usageMetadata?.promptTokensDetails).toEqual([
      { modality: "TEXT", tokenCount: 5 },
      { modality: "IMAGE", tokenCount: 1032 },
    ]);
    expect(viaFile.usageMetadata).toEqual(viaInline.usageMetadata);
    expect(viaFile.candidates).toEqual(viaInline.candidates);
    expect(await model.countTokens(["Describe the chart.", file(uploaded.uri)])).toEqual(
      await model.countTokens(["Describe the chart.", inline(OVERVIEW)]),
    );
  });

  it("continues an implicit-cache prefix across transports: same bytes, same image", async () => {
    const { file: uploaded } = await filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png" });
    const data = marketData("RELIANCE", 2874.35);
    const model = modelFor(handle);
    await model.generateContent([data, inline(OVERVIEW), "Stage: comprehensive_overview"]);
    const usage = raw(
      (await model.generateContent([data, file(uploaded.uri), "Stage: volume_analysis"])).response,
    ).usageMetadata;
    expect(usage?.cacheTokensDetails).toContainEqual({ modality: "IMAGE", tokenCount: 1032 });
  });

  it("inside a cachedContents entry", async () => {
    const { file: uploaded } = await filesOf(handle).uploadFile(OVERVIEW, { mimeType: "image/png" });
    const data = marketData("TCS", 3456.7);
    const cache = (image: Part) =>
      cacheManagerFor(handle).create({
        model: "gemini-2.5-flash",
        contents: [{ role: "user", parts: [{ text: data }, image] }],
        ttlSeconds: 300,
      });
    expect(raw(await cache(file(uploaded.uri))).usageMetadata).toEqual(
      raw(await cache(inline(OVERVIEW))).usageMetadata,
    );
    await filesOf(handle).deleteFile(uploaded.name);
    expect((await failure(cache(file(uploaded.uri)))).status).toBe(403);
  });
});
