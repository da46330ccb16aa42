import type { StageDefinition } from "./stages.js";

export const SYSTEM_INSTRUCTION =
  "You are a disciplined equity technical analyst. Base every statement on the market data given; " +
  "quote indicator values and price levels; never invent data. Be concise and specific.";

/**
 * Every stage's prompt starts with the same market brief, byte for byte, and ends with
 * its own instruction: a shared prefix is what Gemini's implicit caching can reuse.
 */
export function stagePrompt(marketBrief: string, stage: StageDefinition<unknown>): string {
  return `${marketBrief}\n\nStage: ${stage.callType}\n${stage.instruction}`;
}

export function finalDecisionPrompt(
  marketBrief: string,
  stage: StageDefinition<unknown>,
  results: { callType: string; text: string | null }[],
): string {
  const sections = results.map(
    ({ callType, text }) => `### ${callType}\n${text ?? "(not available: this stage failed)"}`,
  );
  return `${marketBrief}\n\n## Stage analyses\n${sections.join("\n\n")}\n\nStage: ${stage.callType}\n${stage.instruction}`;
}
