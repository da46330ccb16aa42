import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { GoogleAIFileManager } from "@google/generative-ai/server";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { normalizeUsage } from "../../src/ledger/usage.js";
import { type EmulatorHandle, type EmulatorOptions, startEmulator } from "../../src/llm/emulator/index.js";
import {
  type ChartTransport,
  GeminiClient,
  type GenerateRequest,
  type GenerateResult,
  type InlineImage,
} from "../../src/llm/gemini-client.js";
import { marketData } from "./emulator-helpers.js";

/** The adapter's chart transport against the real emulator: one upload per chart, same tokens. */

function chart(name: string): InlineImage {
  const data = readFileSync(new URL(`../../docs/charts/${name}.png`, import.meta.url)).toString("base64");
  return { mimeType: "image/png", data, digest: createHash("sha256").update(data).digest("hex") };
}
const OVERVIEW = chart("RELIANCE-overview");
const VOLUME = chart("RELIANCE-volume");
/** Above this, a generateContent body carried a chart inline (each is > 100 KB of base64). */
const INLINE_BODY_BYTES = 100_000;
const PREFIX = marketData("RELIANCE", 2874.35);

const emulators: EmulatorHandle[] = [];
async function emulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const handle = await startEmulator(options);
  emulators.push(handle);
  return handle;
}
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((handle) => handle.close()));
});

interface Client {
  client: GeminiClient;
  warnings: Record<string, unknown>[];
}

function clientFor(
  handle: EmulatorHandle,
  options: { transport?: ChartTransport; timeoutMs?: number; retryAfterFailureMs?: number } = {},
): Client {
  const warnings: Record<string, unknown>[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => warnings.push(JSON.parse(line)) });
  const client = new GeminiClient({
    apiKey: "test",
    baseUrl: `${handle.url}/`,
    timeoutMs: options.timeoutMs ?? 5000,
    chartTransport: options.transport ?? "files",
    logger,
    uploads: { retryAfterFailureMs: options.retryAfterFailureMs ?? 30_000 },
  });
  return { client, warnings };
}

function request(image: InlineImage | null, callType: string, analysisId = "an-1"): GenerateRequest {
  return {
    model: "gemini-2.5-flash",
    systemInstruction: "You are a technical analyst.",
    prompt: "",
    content: { prefix: PREFIX, images: image ? [image] : [], suffix: `Stage: ${callType}` },
    analysisId,
    callType,
    attempt: 1,
  };
}

/** Body bytes of the generateContent requests a piece of work sent. */
async function generateBytes(handle: EmulatorHandle, work: () => Promise<unknown>): Promise<number> {
  const before = handle.traffic().requestBytes.generateContent ?? 0;
  await work();
  return (handle.traffic().requestBytes.generateContent ?? 0) - before;
}

describe("files transport", () => {
  it("uploads each distinct chart once across many calls, concurrent ones included", async () => {
    const handle = await emulator();
    const { client } = clientFor(handle);
    const images = [OVERVIEW, VOLUME];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        client.generate(request(images[i % 2] ?? null, "comprehensive_overview", `an-${i}`)),
      ),
    );
    for (let i = 0; i < 6; i++) await client.generate(request(images[i % 2] ?? null, "volume_analysis"));

    const traffic = handle.traffic();
    expect(traffic.filesUploaded).toBe(2);
    expect(traffic.requests).toEqual({ uploadFile: 2, generateContent: 18 });
    // A file reference instead of > 200 KB of base64 in every call.
    expect((traffic.requestBytes.generateContent ?? 0) / 18).toBeLessThan(INLINE_BODY_BYTES / 10);
    expect(handle.files()).toHaveLength(2);
    const uploads = handle.requestLog().filter((entry) => entry.method === "uploadFile");
    expect(uploads.map((entry) => entry.analysisId).sort()).toEqual(["an-0", "an-1"]);
  });

  it("returns the usage, by modality, that the same calls inline would", async () => {
    const viaFiles = clientFor(await emulator());
    const inlineHandle = await emulator();
    const viaInline = clientFor(inlineHandle, { transport: "inline" });
    const calls: [InlineImage | null, string][] = [
      [OVERVIEW, "comprehensive_overview"],
      [VOLUME, "volume_analysis"],
      [OVERVIEW, "reversal_patterns"],
      [null, "indicator_summary"],
      [OVERVIEW, "continuation_levels"],
    ];
    // One after another, so implicit-cache hits (images included) happen alike on both sides.
    const results: [GenerateResult, GenerateResult][] = [];
    for (const [image, callType] of calls) {
      results.push([
        await viaFiles.client.generate(request(image, callType)),
        await viaInline.client.generate(request(image, callType)),
      ]);
    }
    expect(inlineHandle.traffic().filesUploaded).toBe(0);
    const ledger = (result: GenerateResult) =>
      normalizeUsage(result.usageMetadata, { received: true, inputChars: 0, outputChars: 0 });
    for (const [files, inline] of results) {
      expect(files.usageMetadata).toEqual(inline.usageMetadata);
      expect(files.text).toBe(inline.text);
      expect(ledger(files)).toEqual(ledger(inline));
    }
    const [overview] = results[0] ?? [];
    expect(ledger(overview as GenerateResult).modalityTokens.input.IMAGE).toBe(1032);
    // The same image again: its tiles come from the implicit cache on both sides.
    const [reversal] = results[2] ?? [];
    expect(reversal?.usageMetadata?.cacheTokensDetails).toContainEqual({
      modality: "IMAGE",
      tokenCount: 1032,
    });
  });

  it("resends inline once when the provider no longer holds the file, returning that call's usage only", async () => {
    const handle = await emulator();
    const { client, warnings } = clientFor(handle);
    await client.generate(request(OVERVIEW, "comprehensive_overview", "an-1"));
    const [stored] = handle.files();
    await new GoogleAIFileManager("test", { baseUrl: handle.url }).deleteFile(stored?.name ?? "");
    handle.clearLog();

    let result: GenerateResult | undefined;
    const bytes = await generateBytes(handle, async () => {
      result = await client.generate(request(OVERVIEW, "volume_analysis", "an-2"));
    });
    const log = handle.requestLog();
    expect(log.map((entry) => [entry.method, entry.status])).toEqual([
      ["generateContent", 403],
      ["generateContent", 200],
    ]);
    expect(log[0]?.usageMetadata).toBeNull();
    expect(result?.usageMetadata).toEqual(log[1]?.usageMetadata);
    expect(bytes).toBeGreaterThan(INLINE_BODY_BYTES);
    expect(warnings).toEqual([
      expect.objectContaining({ analysisId: "an-2", fileUris: [stored?.uri], level: 40 }),
    ]);

    // The entry was dropped: the next call uploads the chart again and refers to the new file.
    const next = await generateBytes(handle, () =>
      client.generate(request(OVERVIEW, "reversal_patterns", "an-3")),
    );
    expect(next).toBeLessThan(INLINE_BODY_BYTES / 10);
    expect(handle.traffic().filesUploaded).toBe(2);
    expect(handle.files().map((file) => file.uri)).not.toContain(stored?.uri);
  });

  it("sends inline when the upload fails, warns once, and tries the upload again later", async () => {
    const handle = await emulator({ faults: [{ kind: "server_error", method: "uploadFile", times: 1 }] });
    const { client, warnings } = clientFor(handle, { retryAfterFailureMs: 300 });
    const bytes = await generateBytes(handle, () =>
      Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          client.generate(request(OVERVIEW, "comprehensive_overview", `an-${i}`)),
        ),
      ),
    );
    expect(bytes).toBeGreaterThan(5 * INLINE_BODY_BYTES);
    expect(handle.traffic().requests.uploadFile).toBe(1);
    expect(warnings).toEqual([
      expect.objectContaining({
        analysisId: "an-0",
        callType: "comprehensive_overview",
        digest: OVERVIEW.digest,
        msg: "chart upload failed; sending it inline",
      }),
    ]);
    expect(String(warnings[0]?.err)).toContain("HTTP 500");

    // Within the retry delay: inline again, without another upload.
    await client.generate(request(OVERVIEW, "volume_analysis", "an-5"));
    expect(handle.traffic().requests.uploadFile).toBe(1);

    await sleep(350);
    const later = await generateBytes(handle, () =>
      client.generate(request(OVERVIEW, "volume_analysis", "an-6")),
    );
    expect(later).toBeLessThan(INLINE_BODY_BYTES / 10);
    expect(handle.traffic()).toMatchObject({ filesUploaded: 1, requests: { uploadFile: 2 } });
    expect(warnings).toHaveLength(1);
  });

  it.each([
    ["hangs", "timeout"],
    ["drops the connection", "reset"],
  ] as const)("sends inline, within the call's deadline, when the upload %s", async (_, kind) => {
    const handle = await emulator({ faults: [{ kind, method: "uploadFile" }] });
    const { client, warnings } = clientFor(handle, { timeoutMs: 2000 });
    const started = performance.now();
    const result = await client.generate(request(OVERVIEW, "comprehensive_overview"));
    // The upload is given half the deadline, so the inline call still has time.
    expect(performance.now() - started).toBeLessThan(1900);
    expect(result.usageMetadata?.promptTokensDetails).toContainEqual({ modality: "IMAGE", tokenCount: 1032 });
    expect(handle.traffic().filesUploaded).toBe(0);
    expect(warnings).toHaveLength(1);
  });

  it("uploads nothing with the inline transport", async () => {
    const handle = await emulator();
    const { client } = clientFor(handle, { transport: "inline" });
    const bytes = await generateBytes(handle, () =>
      client.generate(request(OVERVIEW, "comprehensive_overview")),
    );
    expect(bytes).toBeGreaterThan(INLINE_BODY_BYTES);
    expect(handle.traffic().requests.uploadFile).toBeUndefined();
  });
});
