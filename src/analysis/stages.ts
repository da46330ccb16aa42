import type { CallType } from "../ledger/call-record.js";
import type { OutputBounds } from "../llm/gemini-client.js";
import { isThinkingModel } from "../llm/model-capabilities.js";
import { type FinalDecision, parseFinalDecision, parseStageText } from "./output-schemas.js";

export type AnalysisStage = Exclude<CallType, "final_decision">;

export interface StageDefinition<Output> {
  callType: CallType;
  /** Bumped whenever the instruction changes, so stored results of an older prompt are never reused. */
  promptVersion: string;
  instruction: string;
  json: boolean;
  /** What one answer may bill beyond its prompt (thinking budget sent to thinking models only). */
  bounds: { maxOutputTokens: number; thinkingBudget: number; minOutputTokens: number };
  parse(text: string): Output;
}

/** The bounds a stage's call is sent with for `model`: a model that does not think gets no budget. */
export function outputBounds(stage: StageDefinition<unknown>, model: string): OutputBounds {
  return {
    maxOutputTokens: stage.bounds.maxOutputTokens,
    thinkingBudget: isThinkingModel(model) ? stage.bounds.thinkingBudget : null,
  };
}

const textStage = (callType: AnalysisStage, instruction: string): StageDefinition<string> => ({
  callType,
  promptVersion: "v1",
  instruction,
  json: false,
  // Several times the longest answers seen: room to answer, and a known worst case.
  // Under a cap with less room, a call goes with smaller bounds, down to minOutputTokens.
  bounds: { maxOutputTokens: 2048, thinkingBudget: 1024, minOutputTokens: 512 },
  parse: parseStageText,
});

/** The five stages that only read market data; they run concurrently. */
export const ANALYSIS_STAGES: readonly StageDefinition<string>[] = [
  textStage(
    "indicator_summary",
    "Summarise what the technical indicators say: momentum (RSI, MACD, Stochastic), trend (moving averages, ADX) and volatility (Bollinger Bands, ATR). Say which signals agree and which conflict.",
  ),
  textStage(
    "comprehensive_overview",
    "Give a comprehensive overview of the stock's recent price action: the prevailing trend, its strength, where price sits in its 52-week range, and the key risks visible in the data.",
  ),
  textStage(
    "volume_analysis",
    "Analyse volume: compare recent volume with its average, read OBV and VWAP, and say whether volume confirms or contradicts the price trend.",
  ),
  textStage(
    "reversal_patterns",
    "Look for reversal signals: candlestick patterns in the recent bars, divergences between price and momentum, and overbought or oversold extremes. Rate how likely a reversal is.",
  ),
  textStage(
    "continuation_levels",
    "Identify continuation setups and the price levels that matter: support and resistance, breakout and breakdown levels, and where the current trend would be invalidated.",
  ),
];

export const FINAL_DECISION_STAGE: StageDefinition<FinalDecision> = {
  callType: "final_decision",
  promptVersion: "v1",
  instruction:
    'Weigh the five analyses above and decide. Answer with JSON only: {"action": "BUY" | "SELL" | "HOLD", "confidence": number from 0 to 1, "entry": price, "target": price, "stop_loss": price, "rationale": short text}. For BUY target > entry > stop_loss; for SELL target < entry < stop_loss.',
  json: true,
  bounds: { maxOutputTokens: 1024, thinkingBudget: 1024, minOutputTokens: 256 },
  parse: parseFinalDecision,
};
