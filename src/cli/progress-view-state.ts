import type { StageState } from "../analysis/pipeline.js";
import { CALL_TYPES } from "../ledger/call-record.js";
import { type Picodollars, usdToPico } from "../ledger/money.js";
import { LlmCallError, type LlmErrorType } from "../llm/errors.js";
import { type AnalysisRow, type AnalysisStatus, TERMINAL_STATUSES } from "../store/analyses-repo.js";
import type { BatchFact, CallFact } from "./progress-view-ledger.js";

/** A stage as `analyze --wait` shows it. */
export type StageKind =
  | "pending"
  | "running"
  | "retrying"
  | "success"
  | "failed"
  | "reused"
  | "skipped"
  | "not_run"
  | "batched";

/** Tokens and cost billed so far; `costPico` is null once one call had no price. */
export interface Figures {
  tokens: number;
  costPico: Picodollars | null;
}

export interface StageView {
  callType: string;
  kind: StageKind;
  /** The attempt running, about to run (retrying), or that ended the stage; 0 when none. */
  attempt: number;
  /** The error of the attempt before (retrying) or of the last attempt (failed). */
  error: string | null;
  /** Every retry the ledger shows was started or is due, in order, with the error that caused it. */
  retries: { attempt: number; after: string | null }[];
  /** Null until one of the stage's calls has ended. */
  figures: Figures | null;
  /** Batch mode: the batch its request is out in ("batches/…", state), or "waiting" to be sent. */
  batch?: string | undefined;
}

export interface AnalysisView {
  id: string;
  ticker: string;
  status: AnalysisStatus | "unknown";
  ended: boolean;
  stages: StageView[];
  /** Stages that reached an end of their own (success, failed, reused, skipped). */
  done: number;
  total: number;
  figures: Figures;
  /** Why the analysis ended badly: its row's error, or the job's failure. */
  error: string | null;
}

/** Everything known about one analysis at one look. */
export interface AnalysisFacts {
  id: string;
  ticker: string;
  row: Pick<AnalysisRow, "status" | "total_tokens" | "cost_usd" | "token_usage_breakdown" | "error"> | null;
  /** The stages' states from the job's latest progress event, if one arrived. */
  reported: Readonly<Record<string, StageState | "pending">> | undefined;
  calls: CallFact[];
  /** Batch mode: the stage requests out in a batch or waiting for one. */
  batched?: BatchFact[] | undefined;
  /** Set when the job failed for good, so the row may never end. */
  jobFailure: string | null;
  /** The worker's attempts per call (LLM_MAX_ATTEMPTS): a failed last attempt is not retried. */
  maxAttempts: number;
}

const SETTLED: ReadonlySet<StageKind> = new Set(["success", "failed", "reused", "skipped"]);
export const isSettled = (kind: StageKind) => SETTLED.has(kind);

// Same rule the call runner applies (an LlmCallError of that type says whether it is retried).
const retryable = (type: string | null) =>
  type !== null && new LlmCallError(type as LlmErrorType, "").retryable;

function sumFigures(calls: CallFact[]): Figures {
  let tokens = 0;
  let costPico: Picodollars | null = 0n;
  for (const call of calls) {
    tokens += call.totalTokens;
    costPico = costPico === null || call.costUsd === null ? null : costPico + usdToPico(call.costUsd);
  }
  return { tokens, costPico };
}

/** Retries the rows show: every attempt after the first that was started, with its predecessor's error. */
function startedRetries(calls: CallFact[]): StageView["retries"] {
  return calls
    .filter((call) => call.attempt > 1)
    .map((call) => ({
      attempt: call.attempt,
      after: calls.find((c) => c.attempt === call.attempt - 1)?.errorType ?? null,
    }));
}

type Kinded = Pick<StageView, "kind" | "attempt" | "error" | "batch">;

/**
 * The stage's state: what the ledger's rows say, completed by the job's reported state
 * (which alone knows reuse, a skip under a cap, and a stage about to send its first call).
 * A row with status `interrupted` is the start marker of an attempt in flight.
 */
function stageKind(
  callType: string,
  facts: AnalysisFacts,
  calls: CallFact[],
  ended: boolean,
): Kinded & { pendingRetry: boolean } {
  const reported = facts.reported?.[callType];
  const last = calls.at(-1);
  const success = calls.find((call) => call.status === "success");
  // What ended the stage: its last failed attempt, else a call cut off (status `interrupted`).
  const lastFailure = calls.findLast((call) => call.status === "failure") ?? last;
  const failed = (): Kinded & { pendingRetry: boolean } => ({
    kind: "failed",
    attempt: lastFailure?.attempt ?? 0,
    error: lastFailure?.errorType ?? null,
    pendingRetry: false,
  });
  const plain = (kind: StageKind, attempt = 0) => ({ kind, attempt, error: null, pendingRetry: false });

  const reusedFrom = facts.row?.token_usage_breakdown?.[callType]?.reused_from;
  if (reported === "reused" || reusedFrom !== undefined) return plain("reused");
  if (success) return plain("success", success.attempt);
  // A stage that failed without a single call row was refused by its cap before sending
  // (every call sent writes its start marker first): skipped, as the row's error will say.
  if (reported === "skipped" || (reported === "failed" && calls.length === 0)) return plain("skipped");
  if (reported === "failed") return failed();
  if (reported === "done") return plain("success", last?.attempt ?? 0);
  const inBatch = ended
    ? undefined
    : facts.batched?.find((b) => b.callType === callType && b.attempt > (last?.attempt ?? 0));
  if (inBatch) {
    return {
      ...plain("batched", inBatch.attempt),
      batch: inBatch.batchName ? `${inBatch.batchName}, ${inBatch.state ?? "pending"}` : "waiting",
    };
  }
  if (ended) {
    if (lastFailure) return failed();
    // Never started: a cap stopped the analysis first, or it ended before reaching the stage.
    return plain(facts.row?.status === "budget_exceeded" ? "skipped" : "not_run");
  }
  if (!last) return plain(reported === "running" ? "running" : "pending", reported === "running" ? 1 : 0);
  if (last.status === "interrupted") {
    if (last.attempt === 1) return plain("running", 1);
    const before = calls.find((call) => call.attempt === last.attempt - 1);
    return { kind: "retrying", attempt: last.attempt, error: before?.errorType ?? null, pendingRetry: false };
  }
  // The last attempt failed and the job has not said the stage ended: it waits to retry,
  // unless the error is not retried or that was its last attempt.
  if (!retryable(last.errorType) || last.attempt >= facts.maxAttempts) return failed();
  return { kind: "retrying", attempt: last.attempt + 1, error: last.errorType, pendingRetry: true };
}

function stageView(callType: string, facts: AnalysisFacts, ended: boolean): StageView {
  const calls = facts.calls.filter((call) => call.callType === callType);
  const closed = calls.filter((call) => call.status !== "interrupted");
  const { pendingRetry, ...kinded } = stageKind(callType, facts, calls, ended);
  const retries = startedRetries(calls);
  if (pendingRetry) retries.push({ attempt: kinded.attempt, after: kinded.error });
  return { callType, ...kinded, retries, figures: closed.length > 0 ? sumFigures(closed) : null };
}

/** The analysis as the ledger and the job's last progress event show it at this look. */
export function analysisView(facts: AnalysisFacts): AnalysisView {
  const status = facts.row?.status ?? "unknown";
  const ended = facts.jobFailure !== null || (status !== "unknown" && TERMINAL_STATUSES.has(status));
  const stages = CALL_TYPES.map((callType) => stageView(callType, facts, ended));
  // An ended row's totals are the sums of its calls (DESIGN §4); before that, add up the rows.
  const figures =
    ended && facts.row
      ? {
          tokens: facts.row.total_tokens,
          costPico: facts.row.cost_usd === null ? null : usdToPico(facts.row.cost_usd),
        }
      : sumFigures(facts.calls.filter((call) => call.status !== "interrupted"));
  return {
    id: facts.id,
    ticker: facts.ticker,
    status,
    ended,
    stages,
    done: stages.filter((stage) => isSettled(stage.kind)).length,
    total: stages.length,
    figures,
    error: facts.jobFailure ?? facts.row?.error ?? null,
  };
}
