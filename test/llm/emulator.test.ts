import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  composeDecision,
  type EmulatorHandle,
  STAGES,
  startEmulator,
  tokensForChars,
} from "../../src/llm/emulator/index.js";
import { answerOf, modelFor, raw, stagePrompt, textRequest, thinkingConfig } from "./emulator-helpers.js";

const TEXT_STAGES = STAGES.filter((stage) => stage !== "final_decision");

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

describe("generateContent answers", () => {
  it.each(TEXT_STAGES)("answers %s with prose and consistent Gemini 2.5 usage", async (stage) => {
    const system = `You are a technical analyst. Stage: ${stage}`;
    const prompt = stagePrompt("RELIANCE", 2874.35);
    const result = await modelFor(handle, { callType: stage, systemInstruction: system }).generateContent(
      prompt,
    );
    const response = raw(result.response);
    const text = result.response.text();
    expect(text).toMatch(/RSI|MACD|volume|support|resistance/i);
    expect(text).toContain("RELIANCE");

    const usage = response.usageMetadata;
    expect(usage).toBeDefined();
    if (!usage) return;
    expect(usage.promptTokenCount).toBe(tokensForChars(system.length + prompt.length));
    expect(usage.candidatesTokenCount).toBe(tokensForChars(text.length));
    const candidates = usage.candidatesTokenCount ?? 0;
    const thoughts = usage.thoughtsTokenCount ?? 0;
    expect(thoughts).toBeGreaterThanOrEqual(Math.floor(candidates * 0.2));
    expect(thoughts).toBeLessThanOrEqual(Math.ceil(candidates * 0.6));
    expect(usage.totalTokenCount).toBe(usage.promptTokenCount + candidates + thoughts);
    expect(usage.promptTokensDetails).toEqual([{ modality: "TEXT", tokenCount: usage.promptTokenCount }]);
    expect(usage.candidatesTokensDetails).toEqual([{ modality: "TEXT", tokenCount: candidates }]);
    expect(usage.cachedContentTokenCount).toBeUndefined();
    expect(response.modelVersion).toBe("gemini-2.5-flash");
    expect(response.responseId).toMatch(/^[\w-]+$/);
    expect(response.candidates?.[0]?.finishReason).toBe("STOP");
  });

  it("gives the same answer and usage to the same request, and varies with the request", async () => {
    const model = modelFor(handle, { callType: "comprehensive_overview" });
    const first = await model.generateContent(stagePrompt("TCS", 3456.7));
    const second = await model.generateContent(stagePrompt("TCS", 3456.7));
    expect(second.response.text()).toBe(first.response.text());
    expect(raw(second.response).usageMetadata).toEqual(raw(first.response).usageMetadata);

    const lengths = new Set<number>();
    for (const ticker of ["INFY", "HDFCBANK", "ITC", "SBIN", "WIPRO", "M&M"]) {
      lengths.add((await model.generateContent(stagePrompt(ticker, 1000))).response.text().length);
    }
    expect(lengths.size).toBeGreaterThan(1);
  });

  it("detects the stage from the request text when the call-type header is missing", async () => {
    const model = modelFor(handle, { systemInstruction: "Analyse the chart. Stage: reversal_patterns" });
    const result = await model.generateContent(stagePrompt("INFY", 1500));
    expect(result.response.text()).toMatch(/^\*\*Reversal patterns/);
    const fromContents = await modelFor(handle).generateContent(
      `Stage: volume_analysis\n${stagePrompt("ITC", 410)}`,
    );
    expect(fromContents.response.text()).toMatch(/^\*\*Volume analysis/);
    expect(handle.requestLog().map((entry) => entry.callType)).toEqual([
      "reversal_patterns",
      "volume_analysis",
    ]);
  });
});

describe("final_decision", () => {
  it("returns schema-valid JSON with prices coherent with the last close", async () => {
    const model = modelFor(handle, { callType: "final_decision" });
    const result = await model.generateContent(
      textRequest(stagePrompt("RELIANCE", 2874.35), thinkingConfig({ json: true })),
    );
    const decision = JSON.parse(result.response.text()) as Record<string, unknown>;
    expect(Object.keys(decision).sort()).toEqual([
      "action",
      "confidence",
      "entry",
      "rationale",
      "stop_loss",
      "target",
    ]);
    expect(["BUY", "SELL", "HOLD"]).toContain(decision.action);
    expect(decision.confidence).toBeGreaterThanOrEqual(0);
    expect(decision.confidence).toBeLessThanOrEqual(1);
    expect(decision.entry).toBe(2874.35);
    expect(typeof decision.rationale).toBe("string");
  });

  it("orders target, entry and stop by action for many prompts, defaulting the close to 100", () => {
    const actions = new Set<string>();
    for (let index = 0; index < 60; index++) {
      const close = index % 3 === 0 ? 0.0123 : 50 + index * 37.31;
      const decision = composeDecision(stagePrompt(`T${index}`, close), index * 7919);
      actions.add(decision.action);
      if (decision.action === "SELL") {
        expect(decision.target).toBeLessThan(decision.entry);
        expect(decision.entry).toBeLessThan(decision.stop_loss);
      } else {
        expect(decision.target).toBeGreaterThan(decision.entry);
        expect(decision.entry).toBeGreaterThan(decision.stop_loss);
      }
      expect(decision.stop_loss).toBeGreaterThan(0);
    }
    expect(actions).toEqual(new Set(["BUY", "SELL", "HOLD"]));
    expect(composeDecision("no price here", 1).entry).toBe(100);
  });
});

describe("thinking", () => {
  it("leads with a thought part when includeThoughts is set, and only then", async () => {
    const model = modelFor(handle, { callType: "final_decision" });
    const request = stagePrompt("TCS", 3456.7);
    const withThoughts = await model.generateContent(
      textRequest(request, thinkingConfig({ json: true, includeThoughts: true })),
    );
    const parts = raw(withThoughts.response).candidates?.[0]?.content?.parts ?? [];
    expect(parts).toHaveLength(2);
    expect(parts[0]?.thought).toBe(true);
    expect(parts[1]?.thought).toBeUndefined();
    // The SDK's text() joins thought parts in: the adapter must filter them out.
    expect(() => JSON.parse(withThoughts.response.text())).toThrow();
    expect(JSON.parse(answerOf(withThoughts.response)).entry).toBe(3456.7);

    const without = await model.generateContent(textRequest(request, thinkingConfig({ json: true })));
    expect(raw(without.response).candidates?.[0]?.content?.parts).toHaveLength(1);
    // Thought summaries do not change the billed figures.
    expect(raw(without.response).usageMetadata).toEqual(raw(withThoughts.response).usageMetadata);
  });

  it("reports no thoughts for pre-2.5 models, a zero budget, or thinking turned off", async () => {
    const prompt = stagePrompt("ITC", 410);
    const old = await modelFor(handle, {
      model: "gemini-2.0-flash",
      callType: "indicator_summary",
    }).generateContent(textRequest(prompt, thinkingConfig({ includeThoughts: true })));
    expect(raw(old.response).usageMetadata?.thoughtsTokenCount).toBeUndefined();
    expect(raw(old.response).candidates?.[0]?.content?.parts).toHaveLength(1);

    const budgetZero = await modelFor(handle, { callType: "indicator_summary" }).generateContent(
      textRequest(prompt, thinkingConfig({ thinkingBudget: 0 })),
    );
    expect(raw(budgetZero.response).usageMetadata?.thoughtsTokenCount).toBeUndefined();

    const noThinking = await startEmulator({ thinking: false });
    try {
      const result = await modelFor(noThinking, { callType: "indicator_summary" }).generateContent(prompt);
      const usage = raw(result.response).usageMetadata;
      expect(usage?.thoughtsTokenCount).toBeUndefined();
      expect(usage?.totalTokenCount).toBe(
        (usage?.promptTokenCount ?? 0) + (usage?.candidatesTokenCount ?? 0),
      );
    } finally {
      await noThinking.close();
    }
  });
});

describe("images and countTokens", () => {
  const image = {
    inlineData: { mimeType: "image/png", data: Buffer.from("not really a png").toString("base64") },
  };

  it("counts prompt tokens the same way as generateContent, images at 258 each", async () => {
    const model = modelFor(handle, { callType: "comprehensive_overview" });
    const text = stagePrompt("INFY", 1500);
    expect(await model.countTokens(text)).toEqual({
      totalTokens: tokensForChars(text.length),
      promptTokensDetails: [{ modality: "TEXT", tokenCount: tokensForChars(text.length) }],
    });

    const withImage = await model.countTokens([text, image]);
    expect(withImage.totalTokens).toBe(tokensForChars(text.length) + 258);

    const generated = raw((await model.generateContent([text, image])).response).usageMetadata;
    expect(generated?.promptTokenCount).toBe(withImage.totalTokens);
    expect(generated?.promptTokensDetails).toEqual([
      { modality: "TEXT", tokenCount: tokensForChars(text.length) },
      { modality: "IMAGE", tokenCount: 258 },
    ]);
  });
});

describe("request log", () => {
  it("records identity headers and exactly the usage sent back", async () => {
    const model = modelFor(handle, { analysisId: "an_log_1", callType: "continuation_levels", attempt: 2 });
    const result = await model.generateContent(stagePrompt("HDFCBANK", 1650.2));
    await model.countTokens("count me");
    const [generate, count] = handle.requestLog();
    expect(generate).toMatchObject({
      method: "generateContent",
      model: "gemini-2.5-flash",
      analysisId: "an_log_1",
      callType: "continuation_levels",
      attempt: 2,
      status: 200,
      fault: null,
    });
    expect(generate?.usageMetadata).toEqual(raw(result.response).usageMetadata);
    expect(Number.isNaN(Date.parse(generate?.at ?? ""))).toBe(false);
    expect(generate?.durationMs).toBeGreaterThanOrEqual(0);
    expect(count).toMatchObject({ method: "countTokens", status: 200, usageMetadata: null });
    expect(count?.seq).toBe((generate?.seq ?? 0) + 1);

    handle.clearLog();
    expect(handle.requestLog()).toEqual([]);
  });

  it("refuses malformed requests and unknown routes with Google-shaped errors", async () => {
    const url = `${handle.url}/v1beta/models/gemini-2.5-flash:generateContent`;
    const noContents = await fetch(url, { method: "POST", body: "{}" });
    expect(noContents.status).toBe(400);
    expect(await noContents.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } });
    const notJson = await fetch(url, { method: "POST", body: "{oops" });
    expect(notJson.status).toBe(400);
    expect(handle.requestLog().map((entry) => entry.status)).toEqual([400, 400]);

    const unknown = await fetch(`${handle.url}/v1beta/models/gemini-2.5-flash:embedContent`, {
      method: "POST",
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
  });
});
