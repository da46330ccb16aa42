import { GoogleAIFileManager } from "@google/generative-ai/server";
import { describe, expect, it } from "vitest";
import type { EmulatorHandle } from "../../src/llm/emulator/index.js";
import { emulatorPerTest, stagePrompt, textRequest } from "./emulator-helpers.js";

/** Gemini Batch Mode with a JSONL input file from the Files API, answered in a JSONL responses file. */

interface Operation {
  name: string;
  done?: boolean;
  metadata: { state: string; batchStats: Record<string, string> };
  response?: { responsesFile?: string; inlinedResponses?: unknown };
}

interface ResponseLine {
  key: string;
  response?: { usageMetadata?: unknown; candidates?: unknown[] };
  error?: { code: number; message: string };
}

const MODEL = "gemini-2.5-flash";
const KEYS = ["AAPL", "MSFT", "NVDA"];
const requestFor = (key: string) => textRequest(stagePrompt(key, 100));

const { start } = emulatorPerTest();

/** Uploads JSONL through the SDK's file manager, as a client preparing a batch does. */
async function uploadJsonl(emulator: EmulatorHandle, lines: unknown[]): Promise<string> {
  const bytes = Buffer.from(`${lines.map((line) => JSON.stringify(line)).join("\n")}\n`);
  const manager = new GoogleAIFileManager("test-key", { baseUrl: emulator.url });
  const { file } = await manager.uploadFile(bytes, {
    mimeType: "application/jsonl",
    displayName: "requests",
  });
  return file.name;
}

function createFromFile(emulator: EmulatorHandle, fileName: string, input: Record<string, unknown> = {}) {
  return fetch(`${emulator.url}/v1beta/models/${MODEL}:batchGenerateContent`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ batch: { displayName: "from-file", inputConfig: { fileName, ...input } } }),
  });
}

async function settled(emulator: EmulatorHandle, name: string): Promise<Operation> {
  for (;;) {
    const operation = (await (await fetch(`${emulator.url}/v1beta/${name}`)).json()) as Operation;
    if (operation.done) return operation;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const download = (emulator: EmulatorHandle, fileName: string, query = "?alt=media") =>
  fetch(`${emulator.url}/download/v1beta/${fileName}:download${query}`);

describe("emulator batch mode with files", () => {
  it("reads JSONL requests from an uploaded file and writes keyed answers to a downloadable file", async () => {
    const emulator = await start({ batchDelayMs: 20 });
    const input = await uploadJsonl(
      emulator,
      KEYS.map((key, index) => ({
        key,
        request: requestFor(key),
        ...(index === 1 ? { metadata: { callType: "volume_analysis" } } : {}),
      })),
    );
    emulator.setFaults([{ kind: "server_error", callType: "volume_analysis" }]);
    const created = await createFromFile(emulator, input);
    expect(created.status).toBe(200);
    const done = await settled(emulator, ((await created.json()) as Operation).name);

    expect(done.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(done.metadata.batchStats).toMatchObject({ successfulRequestCount: "2", failedRequestCount: "1" });
    expect(done.response?.inlinedResponses).toBeUndefined();
    const responsesFile = done.response?.responsesFile ?? "";
    expect(responsesFile).toMatch(/^files\/[a-z0-9]+$/);

    const body = await download(emulator, responsesFile);
    expect(body.status).toBe(200);
    expect(body.headers.get("content-type")).toBe("application/jsonl");
    const lines = (await body.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as ResponseLine);
    expect(lines.map((line) => line.key)).toEqual(KEYS);
    expect(lines[1]).toEqual({ key: "MSFT", error: { code: 13, message: expect.any(String) } });
    emulator.setFaults([]);
    for (const index of [0, 2]) {
      const live = await fetch(`${emulator.url}/v1beta/models/${MODEL}:generateContent`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(requestFor(KEYS[index] ?? "")),
      });
      const { usageMetadata } = (await live.json()) as { usageMetadata: unknown };
      expect(lines[index]?.response?.usageMetadata).toEqual(usageMetadata);
    }

    // The responses file is a generated File: listed with its download uri, not counted as an upload.
    const resource = (await (await fetch(`${emulator.url}/v1beta/${responsesFile}`)).json()) as Record<
      string,
      unknown
    >;
    expect(resource).toMatchObject({
      source: "GENERATED",
      mimeType: "application/jsonl",
      downloadUri: `${emulator.url}/download/v1beta/${responsesFile}:download?alt=media`,
    });
    expect(emulator.traffic().filesUploaded).toBe(1);
    expect(emulator.batches()).toEqual([
      expect.objectContaining({ inputFile: input, responsesFile, requestCount: 3 }),
    ]);
    const downloads = emulator.requestLog().filter((entry) => entry.method === "downloadFile");
    expect(downloads.map((entry) => [entry.file, entry.status])).toEqual([[responsesFile, 200]]);
  });

  it("refuses unknown input files, bad JSONL lines, and downloads of uploaded files", async () => {
    const emulator = await start({ batchDelayMs: 20 });
    const missing = await createFromFile(emulator, "files/nope");
    expect(missing.status).toBe(403);

    const bad = await uploadJsonl(emulator, [
      { key: "AAPL", request: requestFor("AAPL") },
      { request: requestFor("MSFT") },
    ]);
    const refused = await createFromFile(emulator, bad);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      new RegExp(`^${bad} line 2: key`),
    );
    const both = await createFromFile(emulator, bad, {
      requests: { requests: [{ request: requestFor("X") }] },
    });
    expect(both.status).toBe(400);
    expect(emulator.batches()).toEqual([]);

    expect((await download(emulator, bad)).status).toBe(400);
    expect((await download(emulator, "files/nope")).status).toBe(403);
  });

  it("needs alt=media to download, and leaves a failed file batch without a responses file", async () => {
    const emulator = await start({ batchDelayMs: 0, batchOutcome: "failed" });
    const input = await uploadJsonl(emulator, [{ key: "AAPL", request: requestFor("AAPL") }]);
    const failed = await settled(
      emulator,
      ((await (await createFromFile(emulator, input)).json()) as Operation).name,
    );
    expect(failed.metadata.state).toBe("BATCH_STATE_FAILED");
    expect(failed.response).toBeUndefined();

    emulator.setBatchOutcome("succeeded");
    const done = await settled(
      emulator,
      ((await (await createFromFile(emulator, input)).json()) as Operation).name,
    );
    const responsesFile = done.response?.responsesFile ?? "";
    expect((await download(emulator, responsesFile, "")).status).toBe(400);
    expect((await download(emulator, responsesFile)).status).toBe(200);
  });
});
