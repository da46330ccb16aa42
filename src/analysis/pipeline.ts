import { type AnalysisLimits, hasLimits, limitReached, NO_LIMITS } from "../ledger/budget.js";
import { usdToPico } from "../ledger/money.js";
import type { TokenTracker } from "../ledger/token-tracker.js";
import { LlmCallError } from "../llm/errors.js";
import type { PriceProvider } from "../market/types.js";
import type { AnalysisStatus } from "../store/analyses-repo.js";
import { findReusableAnswer, type LlmCallRow, listCalls, recordFromRow } from "../store/calls-repo.js";
import { BATCH_PENDING, type BatchStageOutcome, type BatchStageRunner } from "./batch/batch-stage-runner.js";
import { type CallRunnerDeps, runStageCall, type StageOutcome } from "./call-runner.js";
import {
  CACHE_CREATE_CALL,
  CACHE_STORAGE_CALL,
  closeContextCache,
  type OpenCache,
  openContextCache,
} from "./context-cache.js";
import { type MarketInputsSource, prepareMarketInputs } from "./market-inputs.js";
import type { FinalDecision } from "./output-schemas.js";
import { finalDecisionPromptParts } from "./prompts.js";
import { type DailyGuard, SpendGuard } from "./spend-guard.js";
import { marketStageInput, type StageInput, stageInput } from "./stage-inputs.js";
import { ANALYSIS_STAGES, FINAL_DECISION_STAGE, type StageDefinition } from "./stages.js";

export interface PipelineDeps extends CallRunnerDeps {
  prices: PriceProvider;
  /** Show the four chart-reading stages their charts (inline PNGs), as the original system did. */
  charts: boolean;
  /**
   * Market inputs prepared once per ticker and price data (the worker's cache, built over
   * `prices` and `charts`); unset, each analysis prepares its own from `prices`.
   */
  marketInputs?: MarketInputsSource;
  /** The daily budget every call reserves against, across workers; unset or null: none. */
  dailyBudget?: DailyGuard | null;
}

export type StageState = "running" | "done" | "failed" | "reused" | "skipped";

/** Per-run options: progress callback, cancellation, and the analysis' spending limits. */
export interface PipelineHooks {
  onStage?: (callType: string, state: StageState) => void | Promise<void>;
  signal?: AbortSignal | undefined;
  limits?: AnalysisLimits;
  /** Reuse answers other analyses got for exactly the same input within this many seconds. */
  reuseWithinSeconds?: number | null;
  /** Put the shared prompt prefix in an explicit context cache for this run's calls. */
  contextCache?: boolean;
  /** The analysis' first run: no earlier run can have stored calls, so there is nothing to resume. */
  firstRun?: boolean;
  /** Batch mode: stages are queued for Gemini's Batch API instead of called (src/analysis/batch/). */
  batch?: BatchStageRunner | undefined;
}

export interface PipelineResult {
  status: AnalysisStatus;
  /** sha256 of the price bars used; null when there were none. */
  dataHash?: string | null;
  decision: FinalDecision | null;
  error: string | null;
  marketDataSource: string | null;
  /** Batch mode: stages were queued for a batch; the analysis goes on once their answers are in. */
  pending?: boolean;
}

/** Thrown when shutdown cancels the analysis mid-way: the job is left to be resumed, not finalized. */
export class AnalysisInterruptedError extends Error {
  override name = "AnalysisInterruptedError";
}

/** What earlier runs of this analysis already stored, per call type. */
interface StoredStage {
  attempts: number;
  successText: string | null;
  /** The row of the latest attempt. */
  last: LlmCallRow | null;
}

/**
 * Loads the calls a crashed or stopped run already wrote, puts them in the tracker (so they
 * are counted once, from the stored figures) and remembers which stages already succeeded.
 */
async function resumeFromStore(tracker: TokenTracker, deps: PipelineDeps): Promise<Map<string, StoredStage>> {
  const rows: LlmCallRow[] = await listCalls(deps.sql, tracker.analysisId);
  const stored = new Map<string, StoredStage>();
  for (const row of rows) {
    tracker.recordCall(recordFromRow(row));
    const entry = stored.get(row.call_type) ?? { attempts: 0, successText: null, last: null };
    entry.attempts = Math.max(entry.attempts, row.attempt);
    if (!entry.last || row.attempt > entry.last.attempt) entry.last = row;
    if (row.status === "success" && row.output !== null) entry.successText = row.output;
    stored.set(row.call_type, entry);
  }
  return stored;
}

/** What every stage of one run shares. */
interface RunContext {
  tracker: TokenTracker;
  deps: PipelineDeps;
  hooks: PipelineHooks;
  stored: Map<string, StoredStage>;
  limits: AnalysisLimits;
  /** Every call's worst case is reserved here before it is sent. */
  guard: SpendGuard;
  contextCache?: Promise<OpenCache | null>;
}

async function runOrReuse<Output>(
  stage: StageDefinition<Output>,
  { parts, prompt, inputHash }: StageInput,
  run: RunContext,
): Promise<BatchStageOutcome<Output>> {
  const { tracker, deps, hooks } = run;
  const previous = run.stored.get(stage.callType);
  if (previous?.successText != null) {
    await hooks.onStage?.(stage.callType, "reused");
    return { ok: true, output: stage.parse(previous.successText), text: previous.successText, attempts: 0 };
  }
  const reused = await reuseAnswer(stage, inputHash, run);
  if (reused) return reused;
  // totals() clones; without limits there is nothing to check.
  const limit = hasLimits(run.limits) ? limitReached(tracker.totals(), run.limits) : null;
  if (limit) {
    await hooks.onStage?.(stage.callType, "skipped");
    return { ok: false, error: new LlmCallError("budget_exceeded", limit), attempts: 0 };
  }
  await hooks.onStage?.(stage.callType, "running");
  const cache = await sharedContextCache(run, parts.prefix);
  const stageCall = {
    tracker,
    stage,
    prompt,
    content: { prefix: parts.prefix, images: parts.images ?? [], suffix: parts.suffix },
    contextCache: cache?.cache ?? null,
    inputHash,
    previousAttempts: previous?.attempts ?? 0,
    signal: hooks.signal,
    guard: run.guard,
  };
  const outcome = hooks.batch
    ? await hooks.batch.run(stageCall, deps, previous?.last ?? null)
    : await runStageCall(stageCall, deps);
  if (hooks.signal?.aborted) throw new AnalysisInterruptedError("analysis interrupted by shutdown");
  if (outcome === BATCH_PENDING) return outcome;
  await hooks.onStage?.(stage.callType, outcome.ok ? "done" : "failed");
  return outcome;
}

/**
 * The explicit context cache of this run, created by the first stage that needs to call the
 * model (stages answered by reuse never do) and shared by the rest; null when not asked for.
 */
function sharedContextCache(run: RunContext, prefix: string): Promise<OpenCache | null> {
  if (!run.hooks.contextCache) return Promise.resolve(null);
  if (run.guard.active && !run.contextCache) {
    // A cache's creation and storage are billed outside any call's bounds: under a cap the
    // analysis runs without one rather than risk passing it.
    run.deps.logger.warn(
      "context cache skipped: the analysis has a spending cap, and a cache's cost is not bounded per call",
    );
    run.contextCache = Promise.resolve(null);
  }
  run.contextCache ??= openContextCache(
    { tracker: run.tracker, prefix, attempt: (run.stored.get(CACHE_CREATE_CALL)?.attempts ?? 0) + 1 },
    run.deps,
  );
  return run.contextCache;
}

/**
 * Answers a stage from another analysis' identical, recent, successful call: no new call, no
 * tokens spent; the tracker records what was saved and where the answer came from.
 */
async function reuseAnswer<Output>(
  stage: StageDefinition<Output>,
  inputHash: string,
  run: RunContext,
): Promise<StageOutcome<Output> | null> {
  const maxAgeSeconds = run.hooks.reuseWithinSeconds;
  if (!maxAgeSeconds) return null;
  const { tracker } = run;
  const found = await findReusableAnswer(run.deps.sql, {
    inputHash,
    excludeAnalysisId: tracker.analysisId,
    maxAgeSeconds,
  });
  if (!found) return null;
  let output: Output;
  try {
    output = stage.parse(found.output);
  } catch {
    return null; // an answer that no longer passes its schema is asked again
  }
  tracker.recordReuse({
    callType: stage.callType,
    fromAnalysisId: found.analysis_id,
    tokensSaved: found.total_tokens,
    costSavedPico: found.cost_usd === null ? null : usdToPico(found.cost_usd),
  });
  await run.hooks.onStage?.(stage.callType, "reused");
  return { ok: true, output, text: found.output, attempts: 0 };
}

/** The analysis' end state from its stages' outcomes. */
function conclude(
  stageOutcomes: { callType: string; outcome: StageOutcome<unknown> }[],
  final: StageOutcome<FinalDecision>,
  marketDataSource: string,
): PipelineResult {
  const budgetStop = [...stageOutcomes.map((s) => s.outcome), final].find(
    (o) => !o.ok && o.error.type === "budget_exceeded",
  );
  const skipped = stageOutcomes
    .filter((s) => !s.outcome.ok && s.outcome.error.type === "budget_exceeded")
    .map((s) => s.callType);
  if (!final.ok && final.error.type !== "budget_exceeded") {
    return {
      status: "failed",
      decision: null,
      error: `final_decision failed: ${final.error.type}: ${final.error.message}`,
      marketDataSource,
    };
  }
  if (budgetStop && !budgetStop.ok) {
    const notRun = [...skipped, ...(final.ok ? [] : ["final_decision"])];
    return {
      status: "budget_exceeded",
      decision: final.ok ? final.output : null,
      error: `${budgetStop.error.message}; not run: ${notRun.join(", ") || "retries"}`,
      marketDataSource,
    };
  }
  const failedStages = stageOutcomes.filter((s) => !s.outcome.ok).map((s) => s.callType);
  return {
    status: failedStages.length > 0 ? "partial" : "completed",
    decision: final.ok ? final.output : null,
    error: failedStages.length > 0 ? `stages failed: ${failedStages.join(", ")}` : null,
    marketDataSource,
  };
}

/**
 * The six-stage analysis: market data and indicators, five stages in parallel, then
 * final_decision over their results. Critical path: two LLM round trips.
 */
export async function runAnalysis(
  tracker: TokenTracker,
  deps: PipelineDeps,
  hooks: PipelineHooks = {},
): Promise<PipelineResult> {
  const inputs = deps.marketInputs
    ? await deps.marketInputs.get(tracker.ticker)
    : await prepareMarketInputs(deps.prices, tracker.ticker, { charts: deps.charts });
  if (inputs === null) {
    return {
      status: "failed",
      decision: null,
      error: `no market data for ${tracker.ticker}`,
      marketDataSource: null,
    };
  }
  const { marketDataSource, brief, dataHash } = inputs;
  const limits = hooks.limits ?? NO_LIMITS;
  const run: RunContext = {
    tracker,
    deps,
    hooks,
    stored: hooks.firstRun ? new Map() : await resumeFromStore(tracker, deps),
    limits,
    guard: new SpendGuard(tracker, limits, deps.dailyBudget ?? null, deps.logger),
  };

  try {
    const asked = await Promise.all(
      ANALYSIS_STAGES.map(async (stage) => ({
        callType: stage.callType,
        outcome: await runOrReuse(stage, marketStageInput(inputs, tracker.model, stage), run),
      })),
    );
    const pending = {
      status: "running",
      decision: null,
      error: null,
      marketDataSource,
      dataHash,
      pending: true,
    } as const;
    if (asked.some((s) => s.outcome === BATCH_PENDING)) return pending;
    const stageOutcomes = asked as { callType: string; outcome: StageOutcome<string> }[];
    const results = stageOutcomes.map(({ callType, outcome }) => ({
      callType,
      text: outcome.ok ? outcome.text : null,
    }));
    // Under a cap that left no stage answered, a decision would weigh nothing: do not pay for it.
    const capped = stageOutcomes.find((s) => !s.outcome.ok && s.outcome.error.type === "budget_exceeded");
    const final: BatchStageOutcome<FinalDecision> =
      capped && !capped.outcome.ok && stageOutcomes.every((s) => !s.outcome.ok)
        ? { ok: false, error: capped.outcome.error, attempts: 0 }
        : await runOrReuse(
            FINAL_DECISION_STAGE,
            stageInput(
              tracker.model,
              FINAL_DECISION_STAGE,
              finalDecisionPromptParts(brief, FINAL_DECISION_STAGE, results),
            ),
            run,
          );
    if (final === BATCH_PENDING) return pending;
    return { ...conclude(stageOutcomes, final, marketDataSource), dataHash };
  } finally {
    const open = await run.contextCache;
    if (open) {
      const attempt = (run.stored.get(CACHE_STORAGE_CALL)?.attempts ?? 0) + 1;
      await closeContextCache(open, { tracker, attempt }, deps);
    }
  }
}
