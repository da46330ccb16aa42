import { CACHE_STORAGE_PRICE_VERSION, priceCacheStorage } from "../ledger/cache-storage-prices.js";
import type { CallRecord } from "../ledger/call-record.js";
import { priceCall } from "../ledger/pricing.js";
import type { TokenTracker } from "../ledger/token-tracker.js";
import { type TokenUsage, ZERO_USAGE } from "../ledger/usage.js";
import { LlmCallError } from "../llm/errors.js";
import type { ContextCache } from "../llm/gemini-client.js";
import { callRowFromRecord } from "../store/calls-repo.js";
import type { CallRunnerDeps } from "./call-runner.js";
import { SYSTEM_INSTRUCTION } from "./prompts.js";

export const CACHE_CREATE_CALL = "context_cache_create";
export const CACHE_STORAGE_CALL = "context_cache_storage";

/** Long enough for the five stages and final_decision with retries; deleted as soon as they end. */
const CACHE_TTL_SECONDS = 600;

export interface OpenCache {
  cache: ContextCache;
  tokens: number;
  createdAt: number;
}

async function record(deps: CallRunnerDeps, tracker: TokenTracker, call: CallRecord): Promise<void> {
  tracker.recordCall(call);
  await deps.callWriter.write(callRowFromRecord(tracker.analysisId, call, null));
}

const baseRecord = (
  tracker: TokenTracker,
  callType: string,
  attempt: number,
  startedAt: Date,
): CallRecord => ({
  callType,
  attempt,
  model: tracker.model,
  status: "success",
  usage: ZERO_USAGE,
  cost: { costPico: 0n, priceVersion: null, priceTier: null },
  errorType: null,
  errorMessage: null,
  startedAt,
  durationMs: 0,
  inputChars: 0,
  outputChars: 0,
  rawUsage: null,
  inputHash: null,
});

/**
 * Creates the explicit context cache for the shared prompt prefix and records its creation as
 * its own call (its tokens billed at the input rate). On failure the analysis goes on without
 * a cache: the failed attempt is recorded and null returned.
 */
export async function openContextCache(
  input: { tracker: TokenTracker; prefix: string; attempt: number },
  deps: CallRunnerDeps,
): Promise<OpenCache | null> {
  const { tracker } = input;
  const startedAt = new Date();
  const t0 = performance.now();
  const base = baseRecord(tracker, CACHE_CREATE_CALL, input.attempt, startedAt);
  const inputChars = SYSTEM_INSTRUCTION.length + input.prefix.length;
  try {
    const cache = await deps.llm.createContextCache({
      model: tracker.model,
      systemInstruction: SYSTEM_INSTRUCTION,
      prefix: input.prefix,
      ttlSeconds: CACHE_TTL_SECONDS,
      analysisId: tracker.analysisId,
    });
    const tokens = Number(cache.usageMetadata?.totalTokenCount ?? 0);
    const usage: TokenUsage = {
      ...ZERO_USAGE,
      inputTokens: tokens,
      totalTokens: tokens,
      usageSource: cache.usageMetadata ? "provider" : "estimated",
      modalityTokens: { input: tokens ? { TEXT: tokens } : {}, output: {} },
    };
    await record(deps, tracker, {
      ...base,
      usage,
      cost: priceCall(tracker.model, usage, startedAt),
      durationMs: Math.round(performance.now() - t0),
      inputChars,
      rawUsage: cache.usageMetadata ?? null,
    });
    return { cache, tokens, createdAt: Date.now() };
  } catch (error) {
    const failure = error instanceof LlmCallError ? error : new LlmCallError("network", String(error));
    await record(deps, tracker, {
      ...base,
      status: "failure",
      errorType: failure.type,
      errorMessage: failure.message,
      durationMs: Math.round(performance.now() - t0),
      inputChars,
    });
    deps.logger.warn(
      { analysisId: tracker.analysisId, err: failure.message },
      "context cache not created; the stages run without it",
    );
    return null;
  }
}

/** Deletes the cache and records what keeping it cost (storage, per token-hour; no tokens). */
export async function closeContextCache(
  open: OpenCache,
  input: { tracker: TokenTracker; attempt: number },
  deps: CallRunnerDeps,
): Promise<void> {
  const { tracker } = input;
  const startedAt = new Date(open.createdAt);
  let deleteError: string | null = null;
  await deps.llm.deleteContextCache(open.cache).catch((error: unknown) => {
    // It expires by its TTL anyway; storage is then billed until then.
    deleteError = error instanceof Error ? error.message : String(error);
  });
  const storedMs = deleteError ? CACHE_TTL_SECONDS * 1000 : Date.now() - open.createdAt;
  const costPico = priceCacheStorage(tracker.model, open.tokens, storedMs);
  await record(deps, tracker, {
    ...baseRecord(tracker, CACHE_STORAGE_CALL, input.attempt, startedAt),
    status: deleteError ? "failure" : "success",
    errorType: deleteError ? "server_error" : null,
    errorMessage: deleteError ? `cache not deleted (billed to its expiry): ${deleteError}` : null,
    durationMs: storedMs,
    cost: {
      costPico,
      priceVersion: costPico === null ? null : CACHE_STORAGE_PRICE_VERSION,
      priceTier: costPico === null ? null : "cache_storage",
    },
    rawUsage: { cachedTokens: open.tokens, storedMs },
  });
}
