import { getEventListeners } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { LlmCallError } from "../../src/llm/errors.js";
import { GeminiClient, type GenerateRequest } from "../../src/llm/gemini-client.js";
import { marketData } from "./emulator-helpers.js";

/** The adapter's cancellation against the real emulator: the caller's signal and its own deadline. */

let emulator: EmulatorHandle;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 400 });
});
afterAll(async () => {
  await emulator.close();
});

const client = (timeoutMs = 5000) => new GeminiClient({ apiKey: "test", baseUrl: emulator.url, timeoutMs });

const request = (signal: AbortSignal, attempt = 1): GenerateRequest => ({
  model: "gemini-2.5-flash",
  systemInstruction: "You are a stock analyst.",
  prompt: marketData("RELIANCE", 2874.35),
  analysisId: "abort-test",
  callType: "volume_analysis",
  attempt,
  signal,
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: unknown) => error,
  );
}

describe("GeminiClient cancellation", () => {
  it("stops every call in flight under a caller's signal when it aborts, with one listener on it", async () => {
    const shutdown = new AbortController();
    const gemini = client();
    const started = Date.now();
    const calls = Array.from({ length: 8 }, (_, i) =>
      rejection(gemini.generate(request(shutdown.signal, i + 1))),
    );
    // However many calls run under it, the caller's signal carries one listener of ours.
    expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(1);
    setTimeout(() => shutdown.abort(), 50);
    const errors = await Promise.all(calls);
    expect(Date.now() - started).toBeLessThan(350);
    for (const error of errors) {
      expect(error).toBeInstanceOf(LlmCallError);
      expect((error as LlmCallError).type).not.toBe("timeout");
    }
  });

  it("lets calls that ended go: a later abort touches nothing, and new calls still run", async () => {
    const shutdown = new AbortController();
    const gemini = client();
    const done = await gemini.generate(request(shutdown.signal));
    expect(done.text.length).toBeGreaterThan(0);
    shutdown.abort();
    // Already aborted: a new call under it does not start at all.
    expect(await rejection(gemini.generate(request(shutdown.signal, 2)))).toBeInstanceOf(LlmCallError);
    expect((await gemini.generate(request(new AbortController().signal, 3))).text.length).toBeGreaterThan(0);
  });

  it("times a call out on its own deadline, leaving the caller's signal alone", async () => {
    const shutdown = new AbortController();
    const error = await rejection(client(100).generate(request(shutdown.signal)));
    expect(error).toMatchObject({ type: "timeout" });
    expect(shutdown.signal.aborted).toBe(false);
  });
});
