import type { StageDefinition } from "./stages.js";

export const SYSTEM_INSTRUCTION =
  "You are a disciplined equity technical analyst. Base every statement on the market data given; " +
  "quote indicator values and price levels; never invent data. Be concise and specific.";

/**
 * Guidance every stage shares. It sits at the start of every prompt, before the market data,
 * so all six prompts open with the same long, byte-identical prefix: what Gemini's implicit
 * caching reuses and what an explicit context cache holds.
 */
export const ANALYSIS_GUIDE = `# How to analyse
This is one of six stages of a technical analysis of one stock. Five stages read the same market data below and each answers one question; a final stage weighs their answers and decides.
- indicator_summary: what momentum (RSI, MACD, Stochastic), trend (moving averages, ADX) and volatility (Bollinger Bands, ATR) say, and where they agree or conflict.
- comprehensive_overview: the prevailing trend and its strength, where price sits in its 52-week range, the key risks.
- volume_analysis: volume against its average, OBV and VWAP, and whether volume confirms the price trend.
- reversal_patterns: candlestick patterns, divergences between price and momentum, overbought or oversold extremes.
- continuation_levels: support and resistance, breakout and breakdown levels, where the trend would be invalidated.
Rules for every stage:
1. Use only the data given. Quote the indicator values and price levels you rely on, with their dates where it matters.
2. Separate what the data shows from what you infer, and say how strong each signal is (weak, moderate, strong).
3. When signals conflict, say which you weigh more and why.
4. Prices are in the currency of the data; do not convert them. Percentages are to two decimals.
5. Keep the answer to the question of your stage, in a few short paragraphs, with no preamble.
6. If the data is labelled synthetic, analyse it all the same: it is a realistic test series.`;

/** A prompt as a shared prefix (guide + market data) and the stage's own suffix. */
export interface PromptImage {
  mimeType: string;
  data: string;
  digest?: string;
}

export interface PromptParts {
  prefix: string;
  suffix: string;
  /** Charts the stage is shown, sent between the shared prefix and the stage's own text. */
  images?: PromptImage[];
}

export const sharedPrefix = (marketBrief: string) => `${ANALYSIS_GUIDE}\n\n${marketBrief}`;

const stageTail = (stage: StageDefinition<unknown>) => `Stage: ${stage.callType}\n${stage.instruction}`;

/** A stage's prompt, with its chart when `charts` (by call type) holds one for it. */
export function stagePromptParts(
  marketBrief: string,
  stage: StageDefinition<unknown>,
  charts: Partial<Record<string, PromptImage>> = {},
): PromptParts {
  const parts = { prefix: sharedPrefix(marketBrief), suffix: `\n\n${stageTail(stage)}` };
  const chart = charts[stage.callType];
  return chart ? { ...parts, images: [chart] } : parts;
}

export function finalDecisionPromptParts(
  marketBrief: string,
  stage: StageDefinition<unknown>,
  results: { callType: string; text: string | null }[],
): PromptParts {
  const sections = results.map(
    ({ callType, text }) => `### ${callType}\n${text ?? "(not available: this stage failed)"}`,
  );
  return {
    prefix: sharedPrefix(marketBrief),
    suffix: `\n\n## Stage analyses\n${sections.join("\n\n")}\n\n${stageTail(stage)}`,
  };
}

const join = ({ prefix, suffix }: PromptParts) => `${prefix}${suffix}`;

/** The whole prompt a stage sends (without a context cache). */
export const stagePrompt = (marketBrief: string, stage: StageDefinition<unknown>) =>
  join(stagePromptParts(marketBrief, stage));

export const finalDecisionPrompt = (
  marketBrief: string,
  stage: StageDefinition<unknown>,
  results: { callType: string; text: string | null }[],
) => join(finalDecisionPromptParts(marketBrief, stage, results));
