import {
  GoogleGenerativeAIAbortError,
  GoogleGenerativeAIError,
  GoogleGenerativeAIFetchError,
  GoogleGenerativeAIResponseError,
} from "@google/generative-ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type EmulatorHandle,
  type FaultRule,
  FaultSpecError,
  parseFaultSpec,
  startEmulator,
} from "../../src/llm/emulator/index.js";
import { modelFor, raw, stagePrompt, textRequest, thinkingConfig } from "./emulator-helpers.js";

let handle: EmulatorHandle;

beforeAll(async () => {
  handle = await startEmulator();
});
afterAll(async () => {
  await handle.close();
});
afterEach(() => {
  handle.setFaults([]);
  handle.clearLog();
});

const PROMPT = stagePrompt("RELIANCE", 2874.35);

/** Runs one call that must fail and returns what the SDK threw. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

function fetchError(error: unknown): GoogleGenerativeAIFetchError {
  expect(error).toBeInstanceOf(GoogleGenerativeAIFetchError);
  return error as GoogleGenerativeAIFetchError;
}

describe("HTTP error faults surface as GoogleGenerativeAIFetchError", () => {
  it("rate_limited: 429 with RetryInfo in errorDetails", async () => {
    handle.setFaults([{ kind: "rate_limited", retryDelaySeconds: 7 }]);
    const error = fetchError(await failure(modelFor(handle).generateContent(PROMPT)));
    expect(error.status).toBe(429);
    expect(error.statusText).toBe("Too Many Requests");
    expect(error.errorDetails).toEqual([
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "7s" },
    ]);
    expect(error.message).toContain("exceeded your current quota");
    expect(handle.requestLog()[0]).toMatchObject({ status: 429, fault: "rate_limited", usageMetadata: null });
  });

  it.each([
    ["server_error", 500, "An internal error has occurred"],
    ["overloaded", 503, "The model is overloaded"],
    ["invalid_request", 400, "Request contains an invalid argument"],
    ["auth", 400, "API key not valid"],
  ] as const)("%s: HTTP %i", async (kind, status, message) => {
    handle.setFaults([{ kind }]);
    const error = fetchError(await failure(modelFor(handle).generateContent(PROMPT)));
    expect(error.status).toBe(status);
    expect(error.message).toContain(message);
    expect(handle.requestLog()[0]).toMatchObject({ status, fault: kind });
  });
});

describe("transport faults", () => {
  it("timeout: hangs until the client aborts (GoogleGenerativeAIAbortError)", async () => {
    handle.setFaults([{ kind: "timeout" }]);
    const error = await failure(
      modelFor(handle).generateContent(PROMPT, { signal: AbortSignal.timeout(150) }),
    );
    expect(error).toBeInstanceOf(GoogleGenerativeAIAbortError);
    await expect.poll(() => handle.requestLog()[0]?.durationMs ?? 0).toBeGreaterThanOrEqual(100);
    expect(handle.requestLog()[0]).toMatchObject({ status: 0, fault: "timeout", usageMetadata: null });
  });

  it("reset: the socket is destroyed (GoogleGenerativeAIError 'fetch failed', not a FetchError)", async () => {
    handle.setFaults([{ kind: "reset" }]);
    const error = await failure(modelFor(handle).generateContent(PROMPT));
    expect(error).toBeInstanceOf(GoogleGenerativeAIError);
    expect(error).not.toBeInstanceOf(GoogleGenerativeAIFetchError);
    expect((error as Error).message).toContain("fetch failed");
    expect(handle.requestLog()[0]).toMatchObject({ status: 0, fault: "reset" });
  });

  it("non_json: a 200 whose body the SDK cannot parse (plain SyntaxError)", async () => {
    handle.setFaults([{ kind: "non_json" }]);
    const error = await failure(modelFor(handle).generateContent(PROMPT));
    expect(error).toBeInstanceOf(SyntaxError);
    expect(handle.requestLog()[0]).toMatchObject({ status: 200, fault: "non_json", usageMetadata: null });
  });
});

describe("content faults are billed 200 responses", () => {
  it("blocked_prompt: no candidates, promptFeedback SAFETY, prompt-only usage", async () => {
    handle.setFaults([{ kind: "blocked_prompt" }]);
    const { response } = await modelFor(handle).generateContent(PROMPT);
    expect(() => response.text()).toThrow(GoogleGenerativeAIResponseError);
    const body = raw(response);
    expect(body.candidates).toBeUndefined();
    expect(body.promptFeedback?.blockReason).toBe("SAFETY");
    expect(body.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    expect(body.usageMetadata?.candidatesTokenCount).toBeUndefined();
    expect(body.usageMetadata?.totalTokenCount).toBe(body.usageMetadata?.promptTokenCount);
    expect(handle.requestLog()[0]?.usageMetadata).toEqual(body.usageMetadata);
  });

  it("blocked_candidate: finishReason SAFETY without parts, prompt-only usage", async () => {
    handle.setFaults([{ kind: "blocked_candidate" }]);
    const { response } = await modelFor(handle).generateContent(PROMPT);
    expect(() => response.text()).toThrow(/Candidate was blocked due to SAFETY/);
    const body = raw(response);
    expect(body.candidates?.[0]?.finishReason).toBe("SAFETY");
    expect(body.candidates?.[0]?.content).toBeUndefined();
    expect(body.usageMetadata?.totalTokenCount).toBe(body.usageMetadata?.promptTokenCount);
  });

  it("missing_usage: a normal answer without usageMetadata", async () => {
    handle.setFaults([{ kind: "missing_usage" }]);
    const { response } = await modelFor(handle, { callType: "indicator_summary" }).generateContent(PROMPT);
    expect(response.text()).toContain("RELIANCE");
    expect(raw(response).usageMetadata).toBeUndefined();
    expect(handle.requestLog()[0]).toMatchObject({
      status: 200,
      fault: "missing_usage",
      usageMetadata: null,
    });
  });

  it("bad_schema: parseable final_decision JSON with action MAYBE and normal usage", async () => {
    handle.setFaults([{ kind: "bad_schema", callType: "final_decision" }]);
    const model = modelFor(handle, { callType: "final_decision" });
    const { response } = await model.generateContent(textRequest(PROMPT, thinkingConfig({ json: true })));
    expect(JSON.parse(response.text())).toMatchObject({ action: "MAYBE", entry: 2874.35 });
    expect(raw(response).usageMetadata?.candidatesTokenCount).toBeGreaterThan(0);
  });
});

describe("rule matching", () => {
  it("matches per call type and attempt; the first matching rule wins", async () => {
    handle.setFaults(parseFaultSpec("rate_limited@indicator_summary#1,server_error@indicator_summary"));
    const attempt = (callType: string, n: number) =>
      modelFor(handle, { callType, attempt: n }).generateContent(PROMPT);
    expect(fetchError(await failure(attempt("indicator_summary", 1))).status).toBe(429);
    expect(fetchError(await failure(attempt("indicator_summary", 2))).status).toBe(500);
    await expect(attempt("volume_analysis", 1)).resolves.toBeDefined();
    expect(handle.requestLog().map((entry) => entry.fault)).toEqual(["rate_limited", "server_error", null]);
  });

  it("fires a rule only `times` times and only for its analysis id", async () => {
    handle.setFaults([{ kind: "overloaded", analysisId: "an_a", times: 2 }]);
    const call = (analysisId: string) => modelFor(handle, { analysisId }).generateContent(PROMPT);
    await expect(call("an_b")).resolves.toBeDefined();
    expect(fetchError(await failure(call("an_a"))).status).toBe(503);
    expect(fetchError(await failure(call("an_a"))).status).toBe(503);
    await expect(call("an_a")).resolves.toBeDefined();
  });

  it("draws probabilities from a seeded PRNG, so a run repeats exactly", async () => {
    const pattern = async (seed: number): Promise<string> => {
      const emulator = await startEmulator({ seed, faults: [{ kind: "server_error", probability: 0.5 }] });
      try {
        let outcome = "";
        for (let index = 0; index < 16; index++) {
          const ok = await modelFor(emulator)
            .generateContent(PROMPT)
            .then(
              () => true,
              () => false,
            );
          outcome += ok ? "." : "x";
        }
        return outcome;
      } finally {
        await emulator.close();
      }
    };
    const first = await pattern(42);
    expect(await pattern(42)).toBe(first);
    expect(first).toMatch(/x/);
    expect(first).toMatch(/\./);
  });

  it("applies rules to generateContent unless they name countTokens", async () => {
    handle.setFaults([{ kind: "server_error", method: "countTokens" }]);
    const model = modelFor(handle);
    expect(fetchError(await failure(model.countTokens(PROMPT))).status).toBe(500);
    await expect(model.generateContent(PROMPT)).resolves.toBeDefined();
    handle.setFaults([{ kind: "server_error" }]);
    await expect(model.countTokens(PROMPT)).resolves.toHaveProperty("totalTokens");
    // Content faults mean nothing for countTokens, so such a rule never fires there.
    handle.setFaults([{ kind: "blocked_prompt", method: "countTokens" }]);
    await expect(model.countTokens(PROMPT)).resolves.toHaveProperty("totalTokens");
    expect(handle.requestLog().at(-1)?.fault).toBeNull();
  });

  it("rejects invalid rules from setFaults", () => {
    expect(() => handle.setFaults([{ kind: "explode" } as unknown as FaultRule])).toThrow(FaultSpecError);
  });
});

describe("parseFaultSpec", () => {
  it("reads the compact form", () => {
    expect(
      parseFaultSpec(" rate_limited@indicator_summary#1, server_error@final_decision*2 ,timeout~0.25"),
    ).toEqual([
      { kind: "rate_limited", callType: "indicator_summary", attempt: 1 },
      { kind: "server_error", callType: "final_decision", times: 2 },
      { kind: "timeout", probability: 0.25 },
    ]);
    expect(parseFaultSpec("")).toEqual([]);
  });

  it("reads a JSON array or a single rule object", () => {
    const rules = [{ kind: "rate_limited", retryDelaySeconds: 3, times: 1 }];
    expect(parseFaultSpec(JSON.stringify(rules))).toEqual(rules);
    expect(parseFaultSpec('{"kind":"auth"}')).toEqual([{ kind: "auth" }]);
  });

  it("refuses unknown kinds, unknown fields and bad syntax", () => {
    expect(() => parseFaultSpec("meltdown")).toThrow(FaultSpecError);
    expect(() => parseFaultSpec("rate_limited@@x")).toThrow(/kind\[@callType\]/);
    expect(() => parseFaultSpec('[{"kind":"auth","callTyp":"x"}]')).toThrow(FaultSpecError);
    expect(() => parseFaultSpec('[{"kind":"auth","probability":2}]')).toThrow(FaultSpecError);
    expect(() => parseFaultSpec("[oops")).toThrow(/not valid JSON/);
  });
});

describe("rpmLimit", () => {
  it("answers 429 with RetryInfo beyond the per-minute limit, without counting rejected calls", async () => {
    const emulator = await startEmulator({ rpmLimit: 2 });
    try {
      const model = modelFor(emulator);
      await model.generateContent(PROMPT);
      await model.generateContent(PROMPT);
      const error = fetchError(await failure(model.generateContent(PROMPT)));
      expect(error.status).toBe(429);
      const delay = (error.errorDetails as { retryDelay?: string }[] | undefined)?.[0]?.retryDelay ?? "";
      expect(Number(delay.replace(/s$/, ""))).toBeGreaterThanOrEqual(1);
      expect(Number(delay.replace(/s$/, ""))).toBeLessThanOrEqual(60);
      await expect(model.countTokens(PROMPT)).resolves.toHaveProperty("totalTokens");
      expect(emulator.requestLog().map((entry) => entry.fault)).toEqual([null, null, "rpm_limit", null]);
    } finally {
      await emulator.close();
    }
  });
});

describe("HTTP control endpoints", () => {
  const control = (path: string, init?: RequestInit) => fetch(`${handle.url}/_emulator/${path}`, init);

  it("reports health, sets faults (JSON or compact), reads and clears the log", async () => {
    expect(await (await control("health")).json()).toMatchObject({ status: "ok" });

    const put = await control("faults", {
      method: "PUT",
      body: JSON.stringify([{ kind: "server_error", times: 1 }]),
    });
    expect(put.status).toBe(200);
    expect(fetchError(await failure(modelFor(handle).generateContent(PROMPT))).status).toBe(500);
    await modelFor(handle).generateContent(PROMPT);
    const faults = (await (await control("faults")).json()) as { faults: { fired: number }[] };
    expect(faults.faults).toEqual([{ rule: { kind: "server_error", times: 1 }, fired: 1 }]);

    const log = (await (await control("log")).json()) as { entries: { status: number }[] };
    expect(log.entries.map((entry) => entry.status)).toEqual([500, 200]);
    expect(await (await control("log", { method: "DELETE" })).json()).toEqual({ cleared: 2 });
    expect(handle.requestLog()).toEqual([]);

    await control("faults", { method: "PUT", body: "auth@final_decision" });
    const denied = await failure(modelFor(handle, { callType: "final_decision" }).generateContent(PROMPT));
    expect(fetchError(denied).status).toBe(400);
    await control("faults", { method: "DELETE" });
    await expect(
      modelFor(handle, { callType: "final_decision" }).generateContent(PROMPT),
    ).resolves.toBeDefined();
  });

  it("refuses a bad fault spec with 400 and unknown control routes with 404", async () => {
    const bad = await control("faults", { method: "PUT", body: '[{"kind":"nope"}]' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } });
    const unknown = await control("reboot", { method: "POST" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
  });
});

describe("latency and close()", () => {
  it("delays answers by latencyMs", async () => {
    const emulator = await startEmulator({ latencyMs: 120 });
    try {
      await modelFor(emulator).generateContent(PROMPT);
      expect(emulator.requestLog()[0]?.durationMs).toBeGreaterThanOrEqual(110);
    } finally {
      await emulator.close();
    }
  });

  it("closes promptly with a hanging timeout request and a long latency in flight", async () => {
    const emulator = await startEmulator({
      latencyMs: 60_000,
      faults: [{ kind: "timeout", callType: "final_decision" }],
    });
    const hanging = failure(modelFor(emulator, { callType: "final_decision" }).generateContent(PROMPT));
    const slow = failure(modelFor(emulator, { callType: "indicator_summary" }).generateContent(PROMPT));
    await expect.poll(() => emulator.requestLog().length).toBe(2);
    const started = Date.now();
    await emulator.close();
    expect(Date.now() - started).toBeLessThan(2000);
    for (const error of await Promise.all([hanging, slow])) {
      expect(error).toBeInstanceOf(GoogleGenerativeAIError);
      expect((error as Error).message).toContain("fetch failed");
    }
    expect(emulator.requestLog().map((entry) => entry.status)).toEqual([0, 0]);
    await emulator.close();
  });
});
