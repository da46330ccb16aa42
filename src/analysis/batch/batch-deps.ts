import type { BatchSettings } from "../../config/config.js";
import { LlmCallError } from "../../llm/errors.js";
import type { LlmClient } from "../../llm/gemini-client.js";
import type { Logger } from "../../logger.js";
import type { Sql } from "../../store/database.js";

/** What submitting and polling batches needs. */
export interface BatchDeps {
  sql: Sql;
  llm: LlmClient;
  logger: Logger;
  batchSettings: BatchSettings;
  /**
   * How long a create request may take: a batch still 'creating' after this (plus a margin)
   * was cut off by a crash, and is looked up by its display name before it is sent again.
   */
  createTimeoutMs: number;
  /** Wakes the waiting jobs of analyses whose batch responses are in (best effort: they also poll). */
  wakeAnalyses?: ((analysisIds: string[]) => Promise<void>) | undefined;
}

/** The wait before a batch's next poll: pollMinMs, doubling with each poll, up to pollMaxMs. */
export function pollIntervalMs(settings: BatchSettings, polls: number): number {
  return Math.min(settings.pollMaxMs, settings.pollMinMs * 2 ** Math.max(0, Math.min(polls, 30)));
}

/** The provider refuses the request for good (bad request, unknown batch, bad key): retrying cannot help. */
export const isProviderRefusal = (error: unknown): error is LlmCallError =>
  error instanceof LlmCallError && (error.type === "invalid_request" || error.type === "auth");
