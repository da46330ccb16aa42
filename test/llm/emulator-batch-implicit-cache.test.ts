import { afterEach, describe, expect, it } from "vitest";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { marketData, type RawResponse, textRequest } from "./emulator-helpers.js";

/** Implicit caching of batch requests (emulator option batchImplicitCache), over plain HTTP. */

interface Operation {
  name: string;
  done?: boolean;
  response?: { inlinedResponses: { inlinedResponses: { response?: RawResponse }[] } };
}

const MODEL = "gemini-2.5-flash";
// ≈ 1,600 tokens of market data: past gemini-2.5-flash's 1,024-token caching minimum.
const DATA = marketData("RELIANCE", 2874.35);
const stageRequest = (stage: string) => textRequest(`${DATA}\nStage: ${stage}\nWrite the ${stage} section.`);
// What two stage prompts share (the data, then "\nStage: "), in whole 256-token blocks.
const SHARED = Math.floor(Math.floor(`${DATA}\nStage: `.length / 4) / 256) * 256;

type Usage = RawResponse["usageMetadata"];
const usageOf = (response: RawResponse): Usage => response.usageMetadata;

let handle: EmulatorHandle | null = null;

afterEach(async () => {
  await handle?.close();
  handle = null;
});

async function post<T>(path: string, body: unknown): Promise<T> {
  if (!handle) throw new Error("no emulator");
  const response = await fetch(`${handle.url}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

/** Sends one inline batch and polls it until done; its responses, in request order. */
async function runBatch(stages: string[]): Promise<RawResponse[]> {
  const created = await post<Operation>(`/v1beta/models/${MODEL}:batchGenerateContent`, {
    batch: {
      displayName: `stages-${stages.join("-")}`,
      inputConfig: {
        requests: {
          requests: stages.map((stage) => ({ request: stageRequest(stage), metadata: { stage } })),
        },
      },
    },
  });
  for (;;) {
    const operation = (await (await fetch(`${handle?.url}/v1beta/${created.name}`)).json()) as Operation;
    if (operation.done) {
      return (operation.response?.inlinedResponses.inlinedResponses ?? []).map((item) => item.response ?? {});
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("implicit caching of batch requests", () => {
  it("bills a request the prefix it shares with an earlier request of its batch", async () => {
    expect(SHARED).toBeGreaterThanOrEqual(1024);
    handle = await startEmulator({ batchDelayMs: 0 });
    const [first, second] = (await runBatch(["indicator_summary", "volume_analysis"])).map(usageOf);
    expect(first?.cachedContentTokenCount).toBeUndefined();
    expect(second?.cachedContentTokenCount).toBe(SHARED);
    expect(second?.cacheTokensDetails).toEqual([{ modality: "TEXT", tokenCount: SHARED }]);
    // The log records what the batch billed, request by request.
    const logged = handle.requestLog().filter((entry) => entry.method === "generateContent");
    expect(logged.map((entry) => entry.usageMetadata)).toEqual([first, second]);
  });

  it("shares the cache with live calls, both ways", async () => {
    handle = await startEmulator({ batchDelayMs: 0 });
    const live = await post<RawResponse>(
      `/v1beta/models/${MODEL}:generateContent`,
      stageRequest("indicator_summary"),
    );
    expect(live.usageMetadata?.cachedContentTokenCount).toBeUndefined();
    const [batched] = (await runBatch(["volume_analysis"])).map(usageOf);
    expect(batched?.cachedContentTokenCount).toBe(SHARED);
    const after = await post<RawResponse>(`/v1beta/models/${MODEL}:generateContent`, stageRequest("final"));
    expect(after.usageMetadata?.cachedContentTokenCount).toBe(SHARED);
  });

  it("with batchImplicitCache off, bills every batch request uncached and leaves no prefix behind", async () => {
    handle = await startEmulator({ batchDelayMs: 0, batchImplicitCache: false });
    const usages = (await runBatch(["indicator_summary", "volume_analysis", "indicator_summary"])).map(
      usageOf,
    );
    expect(usages.map((usage) => usage?.cachedContentTokenCount ?? 0)).toEqual([0, 0, 0]);
    const live = await post<RawResponse>(`/v1beta/models/${MODEL}:generateContent`, stageRequest("final"));
    expect(live.usageMetadata?.cachedContentTokenCount).toBeUndefined();
  });

  it("answers the same with the cache on or off: only the cached count differs", async () => {
    const stages = ["indicator_summary", "volume_analysis"];
    handle = await startEmulator({ batchDelayMs: 0 });
    const on = await runBatch(stages);
    await handle.close();
    handle = await startEmulator({ batchDelayMs: 0, batchImplicitCache: false });
    const off = await runBatch(stages);
    expect(on.map((response) => response.candidates)).toEqual(off.map((response) => response.candidates));
    const uncachedPart = (usage: Usage) => {
      const { cachedContentTokenCount: _count, cacheTokensDetails: _details, ...rest } = usage ?? {};
      return rest;
    };
    expect(on.map(usageOf).map(uncachedPart)).toEqual(off.map(usageOf).map(uncachedPart));
    expect(on[1]?.usageMetadata?.cachedContentTokenCount).toBe(SHARED);
    expect(off[1]?.usageMetadata?.cachedContentTokenCount).toBeUndefined();
  });

  it("with implicitCache off, no request hits a repeated prefix, live or batched", async () => {
    handle = await startEmulator({ batchDelayMs: 0, implicitCache: false });
    const live = async (stage: string) =>
      (await post<RawResponse>(`/v1beta/models/${MODEL}:generateContent`, stageRequest(stage))).usageMetadata;
    expect((await live("indicator_summary"))?.cachedContentTokenCount).toBeUndefined();
    expect((await live("volume_analysis"))?.cachedContentTokenCount).toBeUndefined();
    const batched = (await runBatch(["indicator_summary", "final"])).map(usageOf);
    expect(batched.map((usage) => usage?.cachedContentTokenCount ?? 0)).toEqual([0, 0]);
  });
});
