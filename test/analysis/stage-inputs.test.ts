import { describe, expect, it } from "vitest";
import { stageInputHash } from "../../src/analysis/input-hash.js";
import { prepareMarketInputs } from "../../src/analysis/market-inputs.js";
import { SYSTEM_INSTRUCTION, stagePromptParts } from "../../src/analysis/prompts.js";
import { marketStageInput, stageInput } from "../../src/analysis/stage-inputs.js";
import { ANALYSIS_STAGES } from "../../src/analysis/stages.js";
import { SamplePriceProvider } from "../../src/market/sample-provider.js";

const prices = new SamplePriceProvider();
const stage = ANALYSIS_STAGES.find((s) => s.callType === "volume_analysis") ?? ANALYSIS_STAGES[0];

describe("marketStageInput", () => {
  it("builds a stage's input once per market inputs, model and stage, equal to building it afresh", async () => {
    const inputs = await prepareMarketInputs(prices, "AAPL", { charts: true });
    if (!inputs || !stage) throw new Error("no sample data for AAPL");
    const first = marketStageInput(inputs, "gemini-2.5-flash", stage);
    expect(marketStageInput(inputs, "gemini-2.5-flash", stage)).toBe(first);
    const fresh = stageInput("gemini-2.5-flash", stage, stagePromptParts(inputs.brief, stage, inputs.charts));
    expect(first).toEqual(fresh);
    expect(first.prompt).toBe(`${first.parts.prefix}${first.parts.suffix}`);
    // The chart is part of the question: without it, another fingerprint.
    expect(first.parts.images?.length).toBe(1);
    expect(stageInput("gemini-2.5-flash", stage, stagePromptParts(inputs.brief, stage)).inputHash).not.toBe(
      first.inputHash,
    );
  });

  it("gives another fingerprint for another model, stage or data", async () => {
    const aapl = await prepareMarketInputs(prices, "AAPL", { charts: false });
    const msft = await prepareMarketInputs(prices, "MSFT", { charts: false });
    const other = ANALYSIS_STAGES.find((s) => s !== stage);
    if (!aapl || !msft || !stage || !other) throw new Error("no sample data");
    const hashes = new Set([
      marketStageInput(aapl, "gemini-2.5-flash", stage).inputHash,
      marketStageInput(aapl, "gemini-2.5-pro", stage).inputHash,
      marketStageInput(aapl, "gemini-2.5-flash", other).inputHash,
      marketStageInput(msft, "gemini-2.5-flash", stage).inputHash,
    ]);
    expect(hashes.size).toBe(4);
  });

  it("keeps the fingerprint stored rows were written with: prompt, then a newline and each image's digest", async () => {
    const inputs = await prepareMarketInputs(prices, "AAPL", { charts: true });
    if (!inputs || !stage) throw new Error("no sample data for AAPL");
    const parts = stagePromptParts(inputs.brief, stage, inputs.charts);
    const digests = (parts.images ?? []).map((image) => image.digest ?? image.data);
    expect(digests.length).toBeGreaterThan(0);
    // Hashed in pieces, it must equal the hash of the joined text (what earlier versions
    // hashed), or answers stored before an upgrade would never be reused after it.
    const joined = [`${parts.prefix}${parts.suffix}`, ...digests].join("\n");
    expect(stageInput("gemini-2.5-flash", stage, parts).inputHash).toBe(
      stageInputHash("gemini-2.5-flash", stage, SYSTEM_INSTRUCTION, joined),
    );
  });
});
