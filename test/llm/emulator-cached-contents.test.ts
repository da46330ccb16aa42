import { GoogleGenerativeAI, GoogleGenerativeAIFetchError } from "@google/generative-ai";
import type { CachedContent } from "@google/generative-ai/server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EmulatorHandle, startEmulator, tokensForChars } from "../../src/llm/emulator/index.js";
import {
  answerOf,
  cacheManagerFor,
  marketData,
  raw,
  textRequest,
  thinkingConfig,
} from "./emulator-helpers.js";

/** Explicit context caching through the real SDK: GoogleAICacheManager and cached-content models. */

// A fresh emulator per test (it starts in milliseconds), so cache listings are exact.
let handle: EmulatorHandle;

beforeEach(async () => {
  handle = await startEmulator();
});
afterEach(async () => {
  await handle.close();
});

const SYSTEM = "You are a technical analyst. Use only the market data you are given.";
const DATA = marketData("RELIANCE", 2874.35);
const CACHE_TOKENS = tokensForChars(SYSTEM.length + DATA.length);

function createCache(extra: { ttlSeconds?: number; model?: string } = {}): Promise<CachedContent> {
  return cacheManagerFor(handle, { "x-stock-ledger-analysis-id": "an_cache_1" }).create({
    model: extra.model ?? "gemini-2.5-flash",
    displayName: "RELIANCE prefix",
    systemInstruction: SYSTEM,
    contents: [{ role: "user", parts: [{ text: DATA }] }],
    ttlSeconds: extra.ttlSeconds ?? 300,
  });
}

function modelFrom(cache: CachedContent, callType?: string) {
  return new GoogleGenerativeAI("test-key").getGenerativeModelFromCachedContent(cache, undefined, {
    baseUrl: handle.url,
    customHeaders: callType ? { "x-stock-ledger-call-type": callType } : {},
  });
}

/** The error a failing call threw. GoogleAICacheManager's errors are NOT the main entry's classes. */
async function failure(
  promise: Promise<unknown>,
): Promise<Error & { status?: number; errorDetails?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { status?: number };
  }
  throw new Error("expected the call to fail");
}

describe("cachedContents resource", () => {
  it("creates, gets, lists, updates and deletes a cache", async () => {
    const manager = cacheManagerFor(handle);
    const cache = await createCache();
    expect(cache.name).toMatch(/^cachedContents\/[a-z0-9]+$/);
    expect(cache).toMatchObject({ model: "models/gemini-2.5-flash", displayName: "RELIANCE prefix" });
    expect(Object.keys(cache).sort()).toEqual(
      ["createTime", "displayName", "expireTime", "model", "name", "updateTime", "usageMetadata"].sort(),
    );
    expect(raw(cache).usageMetadata).toEqual({ totalTokenCount: CACHE_TOKENS });
    expect(Date.parse(cache.expireTime ?? "") - Date.parse(cache.createTime ?? "")).toBe(300_000);

    const name = cache.name ?? "";
    expect(await manager.get(name)).toEqual(cache);
    expect(await manager.get(name.replace("cachedContents/", ""))).toEqual(cache);
    expect((await manager.list()).cachedContents).toEqual([cache]);

    const updated = await manager.update(name, { cachedContent: { ttlSeconds: 600 } });
    expect(Date.parse(updated.expireTime ?? "") - Date.parse(updated.updateTime ?? "")).toBe(600_000);
    expect(updated.createTime).toBe(cache.createTime);
    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect((await manager.update(name, { cachedContent: { expireTime: until } })).expireTime).toBe(until);

    await manager.delete(name);
    const gone = await failure(manager.get(name));
    expect(gone.status).toBe(404);
    expect(gone.message).toContain("CachedContent not found");
    expect((await failure(manager.delete(name))).status).toBe(404);
    // No caches: Gemini omits the empty list, so the body is {}.
    expect(await manager.list()).toEqual({});
    expect(handle.cachedContents()).toEqual([
      { name, model: "models/gemini-2.5-flash", tokens: CACHE_TOKENS, expireTime: until, deleted: true },
    ]);
  });

  it("refuses caches below the model's minimum with Gemini's 400", async () => {
    const manager = cacheManagerFor(handle);
    const small = await failure(
      manager.create({
        model: "gemini-2.5-flash",
        contents: [{ role: "user", parts: [{ text: "x".repeat(400) }] }],
      }),
    );
    // The server entry point has its own error classes: check status, not instanceof.
    expect(small).not.toBeInstanceOf(GoogleGenerativeAIFetchError);
    expect(small.status).toBe(400);
    expect(small.message).toContain(
      "Cached content is too small. total_token_count=100, min_total_token_count=1024",
    );

    const forPro = await failure(createCache({ model: "gemini-2.5-pro" }));
    expect(forPro.message).toContain(`total_token_count=${CACHE_TOKENS}, min_total_token_count=4096`);
    expect(handle.cachedContents()).toEqual([]);
  });

  it("expires a cache after its ttl: 404 on get, 403 on generateContent, gone from list", async () => {
    const cache = await createCache({ ttlSeconds: 1 });
    const manager = cacheManagerFor(handle);
    const status = () =>
      manager.get(cache.name ?? "").then(
        () => 200,
        (error: { status?: number }) => error.status,
      );
    await expect.poll(status, { timeout: 5000, interval: 100 }).toBe(404);
    expect(await manager.list()).toEqual({});
    const denied = await failure(modelFrom(cache).generateContent("Stage: volume_analysis"));
    expect(denied).toBeInstanceOf(GoogleGenerativeAIFetchError);
    expect(denied.status).toBe(403);
    expect(denied.message).toContain("CachedContent not found (or permission denied)");
    expect(handle.cachedContents()[0]?.deleted).toBe(false);
  });

  it("validates raw REST bodies: ttl with expireTime, bad ttl, fields that cannot be updated", async () => {
    const base = `${handle.url}/v1beta/cachedContents`;
    const post = (body: unknown) => fetch(base, { method: "POST", body: JSON.stringify(body) });
    const contents = [{ role: "user", parts: [{ text: DATA }] }];
    const both = await post({
      model: "models/gemini-2.5-flash",
      contents,
      ttl: "60s",
      expireTime: "2099-01-01T00:00:00Z",
    });
    expect(both.status).toBe(400);
    expect((await post({ model: "models/gemini-2.5-flash", contents, ttl: "soon" })).status).toBe(400);
    expect((await post({ contents })).status).toBe(400);

    const cache = (await (
      await post({ model: "models/gemini-2.5-flash", contents })
    ).json()) as CachedContent;
    // Default lifetime: one hour.
    expect(Date.parse(cache.expireTime ?? "") - Date.parse(cache.createTime ?? "")).toBe(3_600_000);
    const patch = await fetch(`${handle.url}/v1beta/${cache.name}?update_mask=contents`, {
      method: "PATCH",
      body: JSON.stringify({ contents }),
    });
    expect(patch.status).toBe(400);
    expect(await patch.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } });
    expect((await fetch(`${handle.url}/v1beta/${cache.name}`, { method: "PUT" })).status).toBe(404);
    await cacheManagerFor(handle).delete(cache.name ?? "");
  });
});

describe("generateContent and countTokens through a cache", () => {
  it("bills cached + new tokens and answers from the cached text plus the request", async () => {
    const cache = await createCache();
    const request = "Stage: volume_analysis\nDescribe what volume says about the move.";
    const result = await modelFrom(cache).generateContent(request);
    expect(result.response.text()).toMatch(/^\*\*Volume analysis — RELIANCE\*\*/);
    const usage = raw(result.response).usageMetadata;
    expect(usage?.promptTokenCount).toBe(CACHE_TOKENS + tokensForChars(request.length));
    expect(usage?.cachedContentTokenCount).toBe(CACHE_TOKENS);
    expect(usage?.cacheTokensDetails).toEqual([{ modality: "TEXT", tokenCount: CACHE_TOKENS }]);
    expect(usage?.promptTokensDetails).toEqual([{ modality: "TEXT", tokenCount: usage?.promptTokenCount }]);

    // final_decision reads "Last close:" from the cached part.
    const decision = await modelFrom(cache, "final_decision").generateContent(
      textRequest("Stage: final_decision\nDecide.", thinkingConfig({ json: true })),
    );
    expect(JSON.parse(answerOf(decision.response)).entry).toBe(2874.35);
    // Repeating the request adds no implicit caching on top of the explicit cache.
    const repeat = raw((await modelFrom(cache).generateContent(request)).response).usageMetadata;
    expect(repeat?.cachedContentTokenCount).toBe(CACHE_TOKENS);

    expect(await modelFrom(cache).countTokens(request)).toEqual({
      totalTokens: CACHE_TOKENS + tokensForChars(request.length),
      cachedContentTokenCount: CACHE_TOKENS,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: CACHE_TOKENS + tokensForChars(request.length) }],
      cacheTokensDetails: [{ modality: "TEXT", tokenCount: CACHE_TOKENS }],
    });
    const log = handle.requestLog().filter((entry) => entry.method !== "createCachedContent");
    expect(log.map((entry) => [entry.method, entry.callType, entry.cachedContent])).toEqual([
      ["generateContent", "volume_analysis", cache.name],
      ["generateContent", "final_decision", cache.name],
      ["generateContent", "volume_analysis", cache.name],
      ["countTokens", "volume_analysis", cache.name],
    ]);
    expect(log[0]?.usageMetadata).toEqual(usage);
  });

  it("refuses systemInstruction or tools alongside cachedContent, and another model's cache", async () => {
    const cache = await createCache();
    const genAI = new GoogleGenerativeAI("test-key");
    const withSystem = genAI.getGenerativeModel(
      { model: "gemini-2.5-flash", systemInstruction: "Be brief.", cachedContent: cache },
      { baseUrl: handle.url },
    );
    const refused = await failure(withSystem.generateContent("Stage: volume_analysis"));
    expect(refused.status).toBe(400);
    expect(refused.message).toContain(
      "CachedContent can not be used with GenerateContent request setting system_instruction, tools or tool_config",
    );
    const withTools = genAI.getGenerativeModel(
      {
        model: "gemini-2.5-flash",
        tools: [{ functionDeclarations: [{ name: "quote" }] }],
        cachedContent: cache,
      },
      { baseUrl: handle.url },
    );
    expect((await failure(withTools.generateContent("hi"))).status).toBe(400);
    const otherModel = genAI.getGenerativeModel(
      { model: "gemini-2.5-pro", cachedContent: cache },
      { baseUrl: handle.url },
    );
    expect((await failure(otherModel.generateContent("hi"))).message).toContain("has to be the same");
    expect(handle.requestLog().map((entry) => entry.status)).toEqual([200, 400, 400, 400]);
  });

  it("answers 403 for a deleted cache", async () => {
    const cache = await createCache();
    await cacheManagerFor(handle).delete(cache.name ?? "");
    expect((await failure(modelFrom(cache).generateContent("Stage: volume_analysis"))).status).toBe(403);
    expect((await failure(modelFrom(cache).countTokens("Stage: volume_analysis"))).status).toBe(403);
  });
});

describe("request log, faults and control endpoint", () => {
  it("logs every cachedContents call with its method, model, cache name and create usage", async () => {
    const cache = await createCache();
    const manager = cacheManagerFor(handle);
    await manager.get(cache.name ?? "");
    await manager.list();
    await manager.update(cache.name ?? "", { cachedContent: { ttlSeconds: 60 } });
    await manager.delete(cache.name ?? "");
    const log = handle.requestLog();
    expect(log.map((entry) => [entry.method, entry.model, entry.cachedContent, entry.status])).toEqual([
      ["createCachedContent", "gemini-2.5-flash", cache.name, 200],
      ["getCachedContent", "gemini-2.5-flash", cache.name, 200],
      ["listCachedContents", "", null, 200],
      ["updateCachedContent", "gemini-2.5-flash", cache.name, 200],
      ["deleteCachedContent", "gemini-2.5-flash", cache.name, 200],
    ]);
    expect(log[0]).toMatchObject({
      analysisId: "an_cache_1",
      usageMetadata: { totalTokenCount: CACHE_TOKENS },
    });
    expect(log.slice(1).map((entry) => entry.usageMetadata)).toEqual([null, null, null, null]);
  });

  it("fails cache creation on a createCachedContent fault, and only there", async () => {
    handle.setFaults([
      { kind: "server_error", method: "createCachedContent", times: 1 },
      { kind: "blocked_prompt", method: "createCachedContent" },
      { kind: "rate_limited", retryDelaySeconds: 9 },
    ]);
    const failed = await failure(createCache());
    expect(failed.status).toBe(500);
    const created = await createCache();
    // The generateContent rule fires for the model call, not for the cache calls around it.
    const limited = await failure(modelFrom(created).generateContent("Stage: volume_analysis"));
    expect(limited.status).toBe(429);
    expect(handle.requestLog().map((entry) => [entry.method, entry.status, entry.fault])).toEqual([
      ["createCachedContent", 500, "server_error"],
      ["createCachedContent", 200, null],
      ["generateContent", 429, "rate_limited"],
    ]);

    handle.setFaults([{ kind: "rate_limited", method: "createCachedContent", retryDelaySeconds: 4 }]);
    const throttled = await failure(createCache());
    expect(throttled.status).toBe(429);
    expect(throttled.errorDetails).toEqual([
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "4s" },
    ]);
  });

  it("serves /_emulator/cached-contents", async () => {
    const cache = await createCache();
    const body = (await (await fetch(`${handle.url}/_emulator/cached-contents`)).json()) as {
      cachedContents: { name: string; deleted: boolean; tokens: number }[];
    };
    expect(body.cachedContents.find((entry) => entry.name === cache.name)).toMatchObject({
      deleted: false,
      tokens: CACHE_TOKENS,
    });
  });
});
