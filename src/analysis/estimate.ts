import { picoToUsd, usdToPico } from "../ledger/money.js";
import { priceCall, type ServiceTier } from "../ledger/pricing.js";
import { ZERO_USAGE } from "../ledger/usage.js";
import type { LlmClient } from "../llm/gemini-client.js";
import { inlineImageTokens } from "../llm/image-tokens.js";
import type { PriceProvider } from "../market/types.js";
import { recentStageHistory, type StageHistory } from "../store/calls-repo.js";
import type { Sql } from "../store/database.js";
import { prepareMarketInputs } from "./market-inputs.js";
import { finalDecisionPromptParts, SYSTEM_INSTRUCTION } from "./prompts.js";
import { marketStageInput, type StageInput, stageInput } from "./stage-inputs.js";
import { ANALYSIS_STAGES, FINAL_DECISION_STAGE, outputBounds, type StageDefinition } from "./stages.js";

export interface StageEstimate {
  callType: string;
  inputTokens: number;
  /** Of inputTokens, the charts' (Gemini's tile rule). */
  imageTokens: number;
  /** Median answer (thinking included, as billed). */
  outputTokens: number;
  thinkingTokens: number;
  /** 95th percentile answer. */
  outputTokensP95: number;
  /** Where the answer figures come from: this stage's recent calls of the model, or its bounds. */
  outputBasis: "history" | "bounds";
  /** Exact decimal USD; null when the model has no price. */
  costUsd: string | null;
  costUsdP95: string | null;
}

export interface AnalysisEstimate {
  ticker: string;
  model: string;
  /** The rates the costs are at: standard, or the Batch API's (analyze --batch). */
  serviceTier: ServiceTier;
  /** Which market data the run would read (imported, live, samples), as the run labels it. */
  marketDataSource: string;
  stages: StageEstimate[];
  totalTokens: number;
  totalTokensP95: number;
  costUsd: string | null;
  costUsdP95: string | null;
  /** The same run at the standard rates (set for batch estimates: the difference is what batch saves). */
  standardCostUsd?: string | null;
}

/** A stage's answer size: its history's median and p95, or its bounds (the most it may bill) without one. */
function answerFor(stage: StageDefinition<unknown>, model: string, history: StageHistory | undefined) {
  if (history) {
    return {
      basis: "history" as const,
      output: history.outputTokens.p50,
      output95: history.outputTokens.p95,
      thinking: history.thinkingTokens.p50,
      thinking95: history.thinkingTokens.p95,
    };
  }
  const bounds = outputBounds(stage, model);
  const thinking = bounds.thinkingBudget ?? 0;
  const output = bounds.maxOutputTokens + thinking;
  return { basis: "bounds" as const, output, output95: output, thinking, thinking95: thinking };
}

const costOf = (
  model: string,
  input: number,
  output: number,
  thinking: number,
  tier: ServiceTier = "standard",
) =>
  priceCall(
    model,
    {
      ...ZERO_USAGE,
      inputTokens: input,
      outputTokens: output,
      thinkingTokens: thinking,
      totalTokens: input + output,
    },
    new Date(),
    undefined,
    tier,
  ).costPico;

/**
 * Predicts an analysis' tokens and cost without running it, from the inputs the run would
 * send: the same market data and prompts, text counted by the provider (countTokens is free),
 * the charts by Gemini's tile rule; answers from this model's recent calls of each stage.
 */
export async function estimateAnalysis(
  input: { ticker: string; model: string; serviceTier?: ServiceTier | undefined },
  deps: { llm: LlmClient; prices: PriceProvider; sql: Sql; charts: boolean },
): Promise<AnalysisEstimate | null> {
  const inputs = await prepareMarketInputs(deps.prices, input.ticker, { charts: deps.charts });
  if (!inputs) return null;
  const history = await recentStageHistory(deps.sql, input.model);
  const tier = input.serviceTier ?? "standard";
  let standardPico: bigint | null = 0n;
  const count = async ({ prompt, parts }: StageInput) => {
    const images = (parts.images ?? []).reduce((sum, image) => sum + inlineImageTokens(image.data), 0);
    const text = await deps.llm.countTokens({
      model: input.model,
      systemInstruction: SYSTEM_INSTRUCTION,
      prompt,
    });
    return { tokens: text + images, images };
  };
  const estimate = (
    stage: StageDefinition<unknown>,
    counted: { tokens: number; images: number },
  ): StageEstimate => {
    const answer = answerFor(stage, input.model, history.get(stage.callType));
    const p50 = costOf(input.model, counted.tokens, answer.output, answer.thinking, tier);
    const p95 = costOf(input.model, counted.tokens, answer.output95, answer.thinking95, tier);
    const standard = costOf(input.model, counted.tokens, answer.output, answer.thinking);
    standardPico = standardPico === null || standard === null ? null : standardPico + standard;
    return {
      callType: stage.callType,
      inputTokens: counted.tokens,
      imageTokens: counted.images,
      outputTokens: answer.output,
      thinkingTokens: answer.thinking,
      outputTokensP95: answer.output95,
      outputBasis: answer.basis,
      costUsd: p50 === null ? null : picoToUsd(p50),
      costUsdP95: p95 === null ? null : picoToUsd(p95),
    };
  };
  const counts = await Promise.all(
    ANALYSIS_STAGES.map((stage) => count(marketStageInput(inputs, input.model, stage))),
  );
  const stages = ANALYSIS_STAGES.map((stage, i) => estimate(stage, counts[i] ?? { tokens: 0, images: 0 }));
  // The final prompt quotes the five answers: stand in text of their median length.
  const placeholders = ANALYSIS_STAGES.map((stage) => {
    const chars = history.get(stage.callType)?.outputChars ?? stage.bounds.maxOutputTokens * 4;
    return { callType: stage.callType, text: "x".repeat(chars) };
  });
  const finalInput = stageInput(
    input.model,
    FINAL_DECISION_STAGE,
    finalDecisionPromptParts(inputs.brief, FINAL_DECISION_STAGE, placeholders),
  );
  stages.push(estimate(FINAL_DECISION_STAGE, await count(finalInput)));
  const sumCost = (pick: (s: StageEstimate) => string | null) =>
    stages.some((s) => pick(s) === null)
      ? null
      : picoToUsd(stages.reduce((sum, s) => sum + usdToPico(pick(s) ?? "0"), 0n));
  return {
    ticker: input.ticker,
    model: input.model,
    serviceTier: tier,
    marketDataSource: inputs.marketDataSource,
    stages,
    totalTokens: stages.reduce((sum, s) => sum + s.inputTokens + s.outputTokens, 0),
    totalTokensP95: stages.reduce((sum, s) => sum + s.inputTokens + s.outputTokensP95, 0),
    costUsd: sumCost((s) => s.costUsd),
    costUsdP95: sumCost((s) => s.costUsdP95),
    ...(tier === "batch" ? { standardCostUsd: standardPico === null ? null : picoToUsd(standardPico) } : {}),
  };
}

/**
 * Why an analysis cannot fit its caps at all (its estimate is above one), or null. `flags`
 * names the caps as the caller's user knows them (CLI flags or API fields).
 */
export function estimateExceedsCaps(
  estimate: AnalysisEstimate,
  caps: { maxTokens?: number | undefined; maxCostUsd?: string | undefined },
  flags: { maxTokens: string; maxCost: string; allowPartial: string },
): string | null {
  const what = `${estimate.ticker}: the estimate is ${estimate.totalTokens.toLocaleString("en-US")} tokens${
    estimate.costUsd === null ? "" : ` ($${Number(estimate.costUsd).toFixed(6)})`
  }`;
  const hint = `raise the cap, or pass ${flags.allowPartial} to run the stages that fit`;
  if (caps.maxTokens !== undefined && estimate.totalTokens > caps.maxTokens) {
    return `${what}, more than ${flags.maxTokens} ${caps.maxTokens.toLocaleString("en-US")}; ${hint}`;
  }
  if (caps.maxCostUsd !== undefined) {
    if (estimate.costUsd === null)
      return `${what}; the model has no price, so ${flags.maxCost} cannot be kept`;
    if (usdToPico(estimate.costUsd) > usdToPico(caps.maxCostUsd)) {
      return `${what}, more than ${flags.maxCost} ${caps.maxCostUsd}; ${hint}`;
    }
  }
  return null;
}
