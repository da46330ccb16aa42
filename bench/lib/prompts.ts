/**
 * The product's own prompts (src/market + src/analysis/prompts.ts), so the baseline and the
 * sequential variant send requests byte for byte like the pipeline's.
 */
import { finalDecisionPrompt, SYSTEM_INSTRUCTION, stagePrompt } from "../../src/analysis/prompts.js";
import { ANALYSIS_STAGES, FINAL_DECISION_STAGE, type StageDefinition } from "../../src/analysis/stages.js";
import { computeIndicators, defaultPriceProvider, formatMarketBrief } from "../../src/market/index.js";

export { SYSTEM_INSTRUCTION };

export interface StagePrompt {
  stage: StageDefinition<unknown>;
  prompt: string;
}

/** The market brief as the pipeline builds it for each analysis (load, indicators, format). */
export async function marketBrief(ticker: string): Promise<string> {
  const series = await defaultPriceProvider().load(ticker);
  if (!series || series.bars.length === 0) throw new Error(`no sample data for ${ticker}`);
  return formatMarketBrief(series, computeIndicators(series.bars));
}

export function stagePrompts(brief: string): StagePrompt[] {
  return ANALYSIS_STAGES.map((stage) => ({ stage, prompt: stagePrompt(brief, stage) }));
}

export function finalStagePrompt(
  brief: string,
  results: { callType: string; text: string | null }[],
): StagePrompt {
  return { stage: FINAL_DECISION_STAGE, prompt: finalDecisionPrompt(brief, FINAL_DECISION_STAGE, results) };
}
