import { stageInputHash } from "./input-hash.js";
import type { MarketInputs } from "./market-inputs.js";
import { type PromptParts, SYSTEM_INSTRUCTION, stagePromptParts } from "./prompts.js";
import type { StageDefinition } from "./stages.js";

/** A stage's question as sent: its prompt parts, the prompt text, and the input's fingerprint. */
export interface StageInput {
  parts: PromptParts;
  /** prefix + suffix: what the fingerprint, the estimates and `input_chars` see. */
  prompt: string;
  inputHash: string;
}

/** Builds a stage's input from its parts (the images' digests are part of the fingerprint). */
export function stageInput(model: string, stage: StageDefinition<unknown>, parts: PromptParts): StageInput {
  // Only its length is read (and a rope's length costs nothing): the request is sent as
  // parts, so the prompt is never copied into one flat string.
  const prompt = `${parts.prefix}${parts.suffix}`;
  // The fingerprint of prompt + "\n" + each image's digest, hashed in pieces, not joined:
  // final_decision's prompt is new in every analysis.
  const pieces = [parts.prefix, parts.suffix];
  for (const image of parts.images ?? []) pieces.push("\n", image.digest ?? image.data);
  const inputHash = stageInputHash(model, stage, SYSTEM_INSTRUCTION, pieces);
  return { parts, prompt, inputHash };
}

/**
 * The five market stages ask the same question of every analysis of a ticker while its data
 * is unchanged, and the worker caches one MarketInputs object per ticker and data: their
 * inputs are built and hashed once per inputs object, model and stage, not once per analysis.
 * Keyed weakly, so inputs dropped from the cache take their entries with them.
 */
const built = new WeakMap<MarketInputs, Map<string, StageInput>>();

export function marketStageInput(
  inputs: MarketInputs,
  model: string,
  stage: StageDefinition<unknown>,
): StageInput {
  let byStage = built.get(inputs);
  if (!byStage) {
    byStage = new Map();
    built.set(inputs, byStage);
  }
  const key = `${model}\u0000${stage.callType}`;
  let input = byStage.get(key);
  if (!input) {
    input = stageInput(model, stage, stagePromptParts(inputs.brief, stage, inputs.charts));
    byStage.set(key, input);
  }
  return input;
}
