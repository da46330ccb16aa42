/**
 * The product's own request building (src/market, src/analysis/prompts.ts, stage-charts.ts),
 * so the baseline and the adapter-only variants send requests byte for byte like the
 * pipeline's: shared prefix, the stage's chart (four stages, when charts are on), suffix.
 */

import { prepareMarketInputs } from "../../src/analysis/market-inputs.js";
import {
  finalDecisionPromptParts,
  type PromptParts,
  SYSTEM_INSTRUCTION,
  stagePromptParts,
} from "../../src/analysis/prompts.js";
import { ANALYSIS_STAGES, FINAL_DECISION_STAGE, type StageDefinition } from "../../src/analysis/stages.js";
import type { GenerateRequest } from "../../src/llm/gemini-client.js";
import { defaultPriceProvider } from "../../src/market/index.js";

export { SYSTEM_INSTRUCTION };

export interface StageRequest {
  stage: StageDefinition<unknown>;
  parts: PromptParts;
}

export interface AnalysisInputs {
  brief: string;
  stages: StageRequest[];
}

/**
 * What runAnalysis computes before its first call (the product's own prepareMarketInputs:
 * indicators, market brief, the bars' hash and, charts on, the stage charts).
 */
export async function analysisInputs(ticker: string, charts: boolean): Promise<AnalysisInputs> {
  const inputs = await prepareMarketInputs(defaultPriceProvider(), ticker, { charts });
  if (!inputs) throw new Error(`no sample data for ${ticker}`);
  const { brief, charts: images } = inputs;
  return {
    brief,
    stages: ANALYSIS_STAGES.map((stage) => ({ stage, parts: stagePromptParts(brief, stage, images) })),
  };
}

export function finalRequest(
  brief: string,
  results: { callType: string; text: string | null }[],
): StageRequest {
  return {
    stage: FINAL_DECISION_STAGE,
    parts: finalDecisionPromptParts(brief, FINAL_DECISION_STAGE, results),
  };
}

/** The request the pipeline hands the adapter for one stage (no context cache). */
export function adapterRequest(
  { stage, parts }: StageRequest,
  ids: { analysisId: string; model: string },
): GenerateRequest {
  return {
    model: ids.model,
    systemInstruction: SYSTEM_INSTRUCTION,
    prompt: `${parts.prefix}${parts.suffix}`,
    content: {
      prefix: parts.prefix,
      // With the digest, as the pipeline passes it: the adapter uploads each chart once.
      images: (parts.images ?? []).map(({ mimeType, data, digest }) => ({ mimeType, data, digest })),
      suffix: parts.suffix,
    },
    json: stage.json,
    analysisId: ids.analysisId,
    callType: stage.callType,
    attempt: 1,
  };
}

/**
 * The SDK `parts` of a stage, laid out as src/llm/gemini-client.ts does without a context cache:
 * an image whose digest has an uploaded file's uri in `fileUris` goes as a file reference.
 */
export function sdkParts(parts: PromptParts, fileUris: ReadonlyMap<string, string> = new Map()) {
  return [
    { text: parts.prefix },
    ...(parts.images ?? []).map(({ mimeType, data, digest }) => {
      const fileUri = digest === undefined ? undefined : fileUris.get(digest);
      return fileUri ? { fileData: { mimeType, fileUri } } : { inlineData: { mimeType, data } };
    }),
    { text: parts.suffix },
  ];
}
