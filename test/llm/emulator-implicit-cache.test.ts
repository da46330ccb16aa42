import type { Part } from "@google/generative-ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ImplicitCache } from "../../src/llm/emulator/implicit-cache.js";
import {
  type EmulatorHandle,
  type RequestLogEntry,
  STAGES,
  startEmulator,
  tokensForChars,
} from "../../src/llm/emulator/index.js";
import { marketData, modelFor, raw } from "./emulator-helpers.js";

/** Implicit caching: only prompts answered before a request arrived can serve it. */

let handle: EmulatorHandle;

beforeAll(async () => {
  handle = await startEmulator();
});
afterAll(async () => {
  await handle.close();
});
afterEach(() => {
  handle.clearLog();
});

const SYSTEM = "You are a technical analyst. Answer from the data below only.";
const blocks = (tokens: number): number => Math.floor(tokens / 256) * 256;
const stageText = (stage: string): string => `\nStage: ${stage}\nWrite the ${stage} section.`;

async function usageOf(
  handleFor: EmulatorHandle,
  prompt: string | (string | Part)[],
  model = "gemini-2.5-flash",
) {
  const result = await modelFor(handleFor, { model, systemInstruction: SYSTEM }).generateContent(prompt);
  return raw(result.response).usageMetadata;
}

function cachedOf(entry: RequestLogEntry): number {
  const usage = entry.usageMetadata;
  return usage && "cachedContentTokenCount" in usage ? (usage.cachedContentTokenCount ?? 0) : 0;
}

describe("implicit caching of a shared prefix", () => {
  it("reports the prefix shared with an earlier answered request, in whole 256-token blocks", async () => {
    const data = marketData("RELIANCE", 2874.35);
    const first = await usageOf(handle, `${data}${stageText("indicator_summary")}`);
    expect(first?.cachedContentTokenCount).toBeUndefined();
    expect(first?.cacheTokensDetails).toBeUndefined();

    const text = `${data}${stageText("volume_analysis")}`;
    const second = await usageOf(handle, text);
    // Character-exact: the system instruction, the data, then "\nStage: " before the stages differ.
    const expected = blocks(Math.floor((SYSTEM.length + `${data}\nStage: `.length) / 4));
    expect(expected).toBeGreaterThanOrEqual(1024);
    expect(second?.promptTokenCount).toBe(tokensForChars(SYSTEM.length + text.length));
    expect(second?.cachedContentTokenCount).toBe(expected);
    expect(second?.cacheTokensDetails).toEqual([{ modality: "TEXT", tokenCount: expected }]);
    // Cached tokens are part of the prompt, not added to the total.
    expect(second?.totalTokenCount).toBe(
      (second?.promptTokenCount ?? 0) +
        (second?.candidatesTokenCount ?? 0) +
        (second?.thoughtsTokenCount ?? 0),
    );
    expect(handle.requestLog()[1]?.usageMetadata).toEqual(second);

    // The same prompt again shares all of it, still rounded down to whole blocks.
    const again = await usageOf(handle, text);
    expect(again?.cachedContentTokenCount).toBe(blocks(Math.floor((SYSTEM.length + text.length) / 4)));
  });

  it("lets requests in flight together miss each other, and a later request hit", async () => {
    // Latency keeps the five requests in flight together, as the pipeline's parallel stages are.
    const slow = await startEmulator({ latencyMs: 400 });
    try {
      const data = marketData("TCS", 3456.7);
      const stages = STAGES.filter((stage) => stage !== "final_decision");
      const parallel = await Promise.all(stages.map((stage) => usageOf(slow, `${data}${stageText(stage)}`)));
      for (const usage of parallel) expect(usage?.cachedContentTokenCount).toBeUndefined();

      const final = await usageOf(slow, `${data}${stageText("final_decision")}`);
      const expected = blocks(Math.floor((SYSTEM.length + `${data}\nStage: `.length) / 4));
      expect(final?.cachedContentTokenCount).toBe(expected);
      expect(slow.requestLog().map(cachedOf)).toEqual([0, 0, 0, 0, 0, expected]);
    } finally {
      await slow.close();
    }
  });

  it("never reports a shared prefix below the model's minimum, even in a long prompt", async () => {
    const shared = "a".repeat(3000); // 750 tokens
    await usageOf(handle, `${shared}${"X".repeat(6000)}`);
    const below = await usageOf(handle, `${shared}${"Y".repeat(6000)}`);
    expect(below?.promptTokenCount).toBeGreaterThan(2000);
    expect(below?.cachedContentTokenCount).toBeUndefined();

    const short = "Ticker: SBIN\nLast close: 812.4";
    await usageOf(handle, short);
    expect((await usageOf(handle, short))?.cachedContentTokenCount).toBeUndefined();
  });

  it("uses each model's minimum (4096 for 2.5 Pro) and never shares across models", async () => {
    const prefix = "p".repeat(8000 - SYSTEM.length); // with the system instruction: 2000 tokens
    for (const model of ["gemini-2.5-pro", "gemini-2.5-flash"]) await usageOf(handle, `${prefix}A`, model);
    expect((await usageOf(handle, `${prefix}B`, "gemini-2.5-pro"))?.cachedContentTokenCount).toBeUndefined();
    expect((await usageOf(handle, `${prefix}B`, "gemini-2.5-flash"))?.cachedContentTokenCount).toBe(1792);

    const long = "q".repeat(17_000); // 4250+ tokens: enough for Pro
    await usageOf(handle, `${long}A`, "gemini-2.5-pro");
    expect((await usageOf(handle, `${long}B`, "gemini-2.5-pro"))?.cachedContentTokenCount).toBe(4096);
    expect((await usageOf(handle, `${long}C`, "gemini-2.0-flash"))?.cachedContentTokenCount).toBeUndefined();
  });

  it("continues the prefix through an identical image and stops at a different one", async () => {
    const png = (bytes: string) => ({
      inlineData: { mimeType: "image/png", data: Buffer.from(bytes).toString("base64") },
    });
    const text = "c".repeat(4200);
    await usageOf(handle, [text, png("chart-1"), "Stage: a"]);
    const same = await usageOf(handle, [text, png("chart-1"), "Stage: b"]);
    const total = blocks(Math.floor((SYSTEM.length + text.length + "Stage: ".length) / 4) + 258);
    expect(same?.cachedContentTokenCount).toBe(total);
    expect(same?.cacheTokensDetails).toEqual([
      { modality: "TEXT", tokenCount: total - 258 },
      { modality: "IMAGE", tokenCount: 258 },
    ]);

    const other = await usageOf(handle, [text, png("chart-2"), "Stage: c"]);
    const textOnly = blocks(Math.floor((SYSTEM.length + text.length) / 4));
    expect(other?.cacheTokensDetails).toEqual([{ modality: "TEXT", tokenCount: textOnly }]);
  });
});

describe("ImplicitCache bounds", () => {
  const prompt = (char: string) => [char.repeat(8000)];
  const tokens = { total: 2000, text: 2000, image: 0 };

  it("forgets prompts after the TTL and serves only requests that arrived after the answer", () => {
    const clock = { now: 0 };
    const cache = new ImplicitCache(() => clock.now, { ttlMs: 1000 });
    const inFlight = cache.mark();
    cache.remember("gemini-2.5-flash", prompt("a"));
    expect(cache.lookup("gemini-2.5-flash", prompt("a"), tokens, inFlight).total).toBe(0);
    expect(cache.lookup("gemini-2.5-flash", prompt("a"), tokens, cache.mark()).total).toBe(1792);
    clock.now = 1001;
    expect(cache.lookup("gemini-2.5-flash", prompt("a"), tokens, cache.mark()).total).toBe(0);
    expect(cache.size).toBe(0);
  });

  it("keeps at most maxEntries prompts and maxChars characters, dropping the oldest", () => {
    const cache = new ImplicitCache(Date.now, { maxEntries: 2, maxChars: 20_000 });
    for (const char of ["a", "b", "c"]) cache.remember("m", prompt(char));
    const mark = cache.mark();
    expect(cache.lookup("m", prompt("a"), tokens, mark).total).toBe(0);
    expect(cache.lookup("m", prompt("b"), tokens, mark).total).toBe(1792);
    cache.remember("m", ["d".repeat(16_000)]);
    expect(cache.size).toBe(1);
    expect(cache.lookup("m", prompt("c"), tokens, cache.mark()).total).toBe(0);
  });
});

describe("ImplicitCache prefix matching", () => {
  /** Distinct text of `length` characters, so no stretch of it repeats another. */
  const text = (length: number, seed: number) =>
    Array.from({ length }, (_, i) => String.fromCharCode(33 + ((i * 7 + seed * 13 + (i >> 6)) % 90))).join(
      "",
    );

  it("counts shared characters exactly whether the difference falls on, before or after a compared stretch", () => {
    const model = "gemini-2.5-flash";
    const prompt = { total: 10_000, text: 10_000, image: 0 };
    // The prefix ends at 5,119 or 5,120 characters: 1,279 tokens (1,024 cached) or 1,280 (1,280).
    for (const first of [4096, 5056, 5115, 5119]) {
      for (const shared of [5119, 5120]) {
        const cache = new ImplicitCache();
        const head = text(first, 1);
        const tail = text(4000, 2);
        const rest = shared - first;
        cache.remember(model, [head, tail]);
        const other = `${tail.slice(0, rest)}\u00e9${tail.slice(rest + 1)}`; // é: outside text()'s range
        // A copy of the head, not the same string object: compared by content either way.
        const headCopy = [...head].join("");
        const cached = cache.lookup(model, [headCopy, other], prompt, cache.mark());
        expect(cached.total, `first segment ${first}, shared ${shared}`).toBe(shared === 5120 ? 1280 : 1024);
      }
    }
  });
});
