import type { z } from "zod";
import { analysisIdSchema, modelSchema, quoteInput, tickerSchema } from "../queue/job-payload.js";
import { ANALYSIS_STATUSES, type AnalysisStatus } from "../store/analyses-repo.js";
import { UsageError } from "./cli-errors.js";

/** Validates one user-supplied value; failure is one line naming what was wrong (exit 2). */
function parseWith<T>(schema: z.ZodType<T>, what: string, raw: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new UsageError(`invalid ${what} ${quoteInput(raw)}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
}

export const parseTicker = (raw: string) => parseWith(tickerSchema, "ticker", raw);
export const parseAnalysisId = (raw: string) => parseWith(analysisIdSchema, "analysis id", raw);
export const parseModel = (raw: string) => parseWith(modelSchema, "model", raw);

export function parseStatus(raw: string): AnalysisStatus {
  if ((ANALYSIS_STATUSES as readonly string[]).includes(raw)) return raw as AnalysisStatus;
  throw new UsageError(`invalid status ${quoteInput(raw)}: must be one of ${ANALYSIS_STATUSES.join(", ")}`);
}

export function parseLimit(raw: string, max = 1000): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > max) {
    throw new UsageError(`invalid limit ${quoteInput(raw)}: must be a whole number from 1 to ${max}`);
  }
  return value;
}

/** A date (YYYY-MM-DD, taken as UTC midnight) or a full ISO timestamp. */
export function parseSince(raw: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? `${raw}T00:00:00Z` : raw;
  const date = new Date(iso);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(date.getTime())) {
    throw new UsageError(`invalid date ${quoteInput(raw)}: use YYYY-MM-DD or an ISO timestamp`);
  }
  return date;
}

export function parsePort(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > 65535) {
    throw new UsageError(`invalid port ${quoteInput(raw)}: must be a whole number from 0 to 65535`);
  }
  return value;
}

export function parseConcurrency(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > 1024) {
    throw new UsageError(`invalid concurrency ${quoteInput(raw)}: must be a whole number from 1 to 1024`);
  }
  return value;
}

export function parsePositiveInt(raw: string, what: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || !Number.isSafeInteger(value)) {
    throw new UsageError(`invalid ${what} ${quoteInput(raw)}: must be a whole number of at least 1`);
  }
  return value;
}

/** A USD amount with at most 6 decimals, kept as an exact decimal string. */
export function parseUsd(raw: string, what: string): string {
  // Up to 12 integer digits: the ledger's money columns are NUMERIC(24, 12).
  if (!/^\d{1,12}(\.\d{1,6})?$/.test(raw) || Number(raw) <= 0) {
    throw new UsageError(`invalid ${what} ${quoteInput(raw)}: must be a USD amount above 0 such as 0.05`);
  }
  return raw;
}
