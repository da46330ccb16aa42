/** Gemini 2.5 and 3 think, and take a thinking budget; older models neither think nor accept one. */
export function isThinkingModel(model: string): boolean {
  return /-(2\.5|3)(?:[.-]|$)/.test(model);
}
