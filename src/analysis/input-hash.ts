import { createHash } from "node:crypto";
import type { StageDefinition } from "./stages.js";

/**
 * Fingerprint of everything that decides a stage's answer: model, stage, prompt version, the
 * system instruction and the prompt (which embeds the price data and indicators). Two calls
 * with the same fingerprint would be asked the same question, so one answer serves both; a
 * changed prompt version or changed prices changes it, and nothing is reused.
 */
export function stageInputHash(
  model: string,
  stage: StageDefinition<unknown>,
  systemInstruction: string,
  prompt: string | readonly string[],
): string {
  // Fed piece by piece (the prompt too, when given as pieces: the digest is that of their
  // concatenation): joining first would copy the whole prompt once more per call.
  const hash = createHash("sha256");
  for (const part of [model, stage.callType, stage.promptVersion, systemInstruction]) {
    hash.update(part).update("\u0000");
  }
  for (const piece of typeof prompt === "string" ? [prompt] : prompt) hash.update(piece);
  return hash.digest("hex");
}
