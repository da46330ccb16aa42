/** The built-in Gemini REST emulator (DESIGN §7): reached by the real SDK through `baseUrl`. */

export type { ImageSize } from "../image-tokens.js";
export { imageTokens, jpegSize, pngSize, SMALL_IMAGE_MAX_SIDE, TOKENS_PER_IMAGE } from "../image-tokens.js";
export type { Decision, DecisionAction } from "./answers.js";
export { composeDecision, DEFAULT_LAST_CLOSE, lastCloseOf } from "./answers.js";
export { BatchEndError, DEFAULT_BATCH_DELAY_MS, DEFAULT_BATCH_EXPIRY_MS } from "./batches.js";
export { DEFAULT_CACHE_TTL_SECONDS } from "./cached-contents.js";
export { CONTROL_PREFIX } from "./control.js";
export { FaultSpecError, faultRuleSchema, parseFaultSpec, validateFaultRules } from "./faults.js";
export { DEFAULT_FILE_TTL_MS, DEFAULT_MAX_FILE_BYTES } from "./files.js";
export { IMPLICIT_CACHE_TTL_MS } from "./implicit-cache.js";
export type {
  BatchEnding,
  BatchInfo,
  BatchOutcome,
  BatchState,
  CachedContentInfo,
  CachedContentUsage,
  EmulatorHandle,
  EmulatorMethod,
  EmulatorOptions,
  EmulatorTraffic,
  FaultKind,
  FaultRule,
  ModalityTokenCount,
  RequestLogEntry,
  Stage,
  UploadedFileInfo,
  UsageMetadata,
} from "./protocol.js";
export {
  BATCH_ENDINGS,
  BATCH_OUTCOMES,
  BATCH_STATES,
  EMULATOR_METHODS,
  FAULT_KINDS,
  STAGES,
} from "./protocol.js";
export { startEmulator } from "./server.js";
export {
  CACHE_BLOCK_TOKENS,
  CHARS_PER_TOKEN,
  isThinkingModel,
  MIN_CACHEABLE_PROMPT_TOKENS,
  minCacheTokens,
  tokensForChars,
} from "./usage.js";
