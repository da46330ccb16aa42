import { priceCall } from "../ledger/pricing.js";
import { ZERO_USAGE } from "../ledger/usage.js";
import type { LlmClient } from "../llm/gemini-client.js";
import { computeIndicators } from "../market/indicators.js";
import { formatMarketBrief } from "../market/market-brief.js";
import type { PriceProvider } from "../market/types.js";
import { recentStageHistory, type StageHistory } from "../store/calls-repo.js";
import type { Sql } from "../store/database.js";
import { finalDecisionPrompt, SYSTEM_INSTRUCTION, stagePrompt } from "./prompts.js";
import { ANALYSIS_STAGES, FINAL_DECISION_STAGE } from "./stages.js";

export interface StageEstimate {
  callType: string;
  inputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
  /** Where the output figure comes from: this model's recent calls, or a default guess. */
  outputBasis: "history" | "default";
  costUsd: number | null;
}

export interface AnalysisEstimate {
  ticker: string;
  model: string;
  stages: StageEstimate[];
  totalTokens: number;
  costUsd: number | null;
}

// Typical answer sizes when there is no history yet (tokens; thinking is part of output).
const DEFAULT_OUTPUT = {
  text: { output: 600, thinking: 200, chars: 1800 },
  final: { output: 300, thinking: 150 },
};

/**
 * Predicts an analysis' tokens and cost without running it: prompt tokens are counted by the
 * provider (countTokens, which is free), answer sizes come from this model's recent calls.
 */
export async function estimateAnalysis(
  input: { ticker: string; model: string },
  deps: { llm: LlmClient; prices: PriceProvider; sql: Sql },
): Promise<AnalysisEstimate | null> {
  const series = await deps.prices.load(input.ticker);
  if (!series || series.bars.length === 0) return null;
  const brief = formatMarketBrief(series, computeIndicators(series.bars));
  const history = await recentStageHistory(deps.sql, input.model);
  const count = (prompt: string) =>
    deps.llm.countTokens({ model: input.model, systemInstruction: SYSTEM_INSTRUCTION, prompt });

  const answerFor = (
    callType: string,
    isFinal: boolean,
  ): { h: StageHistory | undefined; output: number; thinking: number } => {
    const h = history.get(callType);
    const fallback = isFinal ? DEFAULT_OUTPUT.final : DEFAULT_OUTPUT.text;
    return {
      h,
      output: h?.outputTokens ?? fallback.output,
      thinking: h?.thinkingTokens ?? fallback.thinking,
    };
  };
  const stages: StageEstimate[] = [];
  const estimate = (callType: string, inputTokens: number, isFinal: boolean): StageEstimate => {
    const { h, output, thinking } = answerFor(callType, isFinal);
    const cost = priceCall(input.model, {
      ...ZERO_USAGE,
      inputTokens,
      outputTokens: output,
      thinkingTokens: thinking,
      totalTokens: inputTokens + output,
    }).costPico;
    return {
      callType,
      inputTokens,
      outputTokens: output,
      thinkingTokens: thinking,
      outputBasis: h ? "history" : "default",
      costUsd: cost === null ? null : Number(cost) / 1e12,
    };
  };
  const counts = await Promise.all(ANALYSIS_STAGES.map((stage) => count(stagePrompt(brief, stage))));
  ANALYSIS_STAGES.forEach((stage, i) => {
    stages.push(estimate(stage.callType, counts[i] ?? 0, false));
  });
  // The final prompt holds the five answers: stand in text of their expected length.
  const placeholders = ANALYSIS_STAGES.map((stage) => ({
    callType: stage.callType,
    text: "x".repeat(history.get(stage.callType)?.outputChars ?? DEFAULT_OUTPUT.text.chars),
  }));
  const finalTokens = await count(finalDecisionPrompt(brief, FINAL_DECISION_STAGE, placeholders));
  stages.push(estimate(FINAL_DECISION_STAGE.callType, finalTokens, true));
  const unpriced = stages.some((s) => s.costUsd === null);
  return {
    ticker: input.ticker,
    model: input.model,
    stages,
    totalTokens: stages.reduce((sum, s) => sum + s.inputTokens + s.outputTokens, 0),
    costUsd: unpriced ? null : stages.reduce((sum, s) => sum + (s.costUsd ?? 0), 0),
  };
}
