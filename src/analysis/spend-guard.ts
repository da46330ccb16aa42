import { setTimeout as sleep } from "node:timers/promises";
import type { DailyBudget } from "../config/config.js";
import {
  type AnalysisLimits,
  exceedsLimits,
  hasLimits,
  type WorstCase,
  worstCase,
} from "../ledger/budget.js";
import { formatUsd, picoToUsd, usdToPico } from "../ledger/money.js";
import type { TokenTotals, TokenTracker } from "../ledger/token-tracker.js";
import type { OutputBounds } from "../llm/gemini-client.js";
import type { Logger } from "../logger.js";
import type { Sql } from "../store/database.js";
import { releaseDailySpend, reserveDailySpend } from "../store/spend-reservations-repo.js";
import { hasDailyBudget } from "./daily-budget.js";

/** A call's worst case, held until the call's closing row is committed. */
export interface CallReservation {
  worst: WorstCase;
  /** The bounds to send: the stage's own, or smaller ones that fit the room left under a cap. */
  bounds: OutputBounds;
  /** Gives the room back; the call's actual spend counts from then on. Idempotent. */
  release(): Promise<void>;
}

export interface DailyGuard {
  sql: Sql;
  budget: DailyBudget;
  /** How long a reservation a killed worker never released keeps its room. */
  ttlMs: number;
}

const n = (value: number) => value.toLocaleString("en-US");

export interface ReserveOptions {
  /** How long the daily reservation holds if never released (default the guard's ttlMs). */
  dailyTtlMs?: number;
  /**
   * release() gives back only this run's hold: the daily reservation stays until its call's row
   * is written by someone else (a batch request's, when its batch is ingested) or it lapses.
   */
  keepDaily?: boolean;
  /**
   * Never wait for room held by other calls (a batch step's holds last until the step ends,
   * and other analyses' batch requests hold theirs until their batch is in): take what fits
   * now, with smaller bounds if need be, or refuse.
   */
  noWait?: boolean;
}

const NOTHING_HELD = { tokens: 0, costPico: 0n };

/** What a call would send: its prompt's counted tokens, and the bounds its stage gives it. */
export interface CallShape {
  model: string;
  inputTokens: number;
  bounds: OutputBounds;
  /** Smaller bounds than this would not leave room for a useful answer: the call is not sent. */
  minOutputTokens: number;
}

interface SizedCall {
  scale: number;
  bounds: OutputBounds;
  worst: WorstCase;
}

/** Gemini 2.5 Pro refuses a thinking budget below this; Flash accepts it too. */
const MIN_THINKING_BUDGET = 128;

/** The call with its bounds scaled by `scale` (1: the stage's own). */
function sizeCall(shape: CallShape, scale: number): SizedCall {
  const { maxOutputTokens, thinkingBudget } = shape.bounds;
  const bounds: OutputBounds = {
    maxOutputTokens: Math.max(shape.minOutputTokens, Math.floor(maxOutputTokens * scale)),
    thinkingBudget:
      thinkingBudget === null ? null : Math.max(MIN_THINKING_BUDGET, Math.floor(thinkingBudget * scale)),
  };
  return { scale, bounds, worst: worstCase(shape.model, { inputTokens: shape.inputTokens, ...bounds }) };
}

/** How often a call waiting for daily budget room held by other calls asks again (plus jitter). */
const DAILY_RETRY_MS = 200;

type DailyState = { spentTokens: number; heldTokens: number; spentCostUsd: string; heldCostUsd: string };

/** Whether the call would fit once the calls in flight end: only then is waiting worth it. */
function fitsOnceReleased(budget: DailyBudget, worst: WorstCase, state: DailyState): boolean {
  if (state.heldTokens === 0 && usdToPico(state.heldCostUsd) === 0n) return false;
  if (budget.dailyTokens !== undefined && state.spentTokens + worst.tokens > budget.dailyTokens) return false;
  if (budget.dailyCostUsd !== undefined) {
    if (worst.costPico === null) return false;
    if (usdToPico(state.spentCostUsd) + worst.costPico > usdToPico(budget.dailyCostUsd)) return false;
  }
  return true;
}

/**
 * Keeps one analysis' spend under its limits and the daily budget: a call is sent only once
 * its worst case fits beside what was spent and what the calls in flight hold. The analysis'
 * own limits are checked and held in memory (one run holds an analysis at a time, and the
 * check and hold happen in one turn of the event loop); the daily budget in Postgres, across
 * every worker.
 */
export class SpendGuard {
  readonly #held = { tokens: 0, costPico: 0n };
  readonly #waiters: (() => void)[] = [];
  readonly #daily: DailyGuard | null;

  constructor(
    private readonly tracker: TokenTracker,
    private readonly limits: AnalysisLimits,
    daily: DailyGuard | null,
    private readonly logger: Logger,
  ) {
    this.#daily = daily && hasDailyBudget(daily.budget) ? daily : null;
  }

  /** False when no cap applies: calls then go without counting or reserving anything. */
  get active(): boolean {
    return hasLimits(this.limits) || this.#daily !== null;
  }

  /**
   * Reserves the call's worst case, or says why it does not fit (the call must not be sent).
   * A call that does not fit only because other calls in flight hold room waits for them to
   * end (their actual spend is usually far below their worst case) and asks again.
   */
  async reserve(
    call: { callType: string; attempt: number },
    shape: CallShape,
    signal?: AbortSignal,
    options: ReserveOptions = {},
  ): Promise<CallReservation | string> {
    let sized: SizedCall;
    for (;;) {
      const spent = this.tracker.totals();
      const fitting = this.#largestFitting(shape, spent, this.#held);
      // Room held by calls in flight comes back, mostly unspent: waiting for it beats sending
      // this call with smaller bounds.
      const worthWaiting = this.#held.tokens > 0 && !options.noWait;
      if (fitting?.scale === 1 || (fitting && !worthWaiting)) {
        sized = fitting;
        break;
      }
      const whenFree = worthWaiting ? this.#largestFitting(shape, spent, NOTHING_HELD) : null;
      if (!fitting && !whenFree) return this.#refusal(shape, spent);
      if (fitting && (whenFree?.scale ?? 0) <= fitting.scale) {
        sized = fitting;
        break;
      }
      await this.#nextRelease(signal);
      if (signal?.aborted) return "interrupted by shutdown";
    }
    const { worst, bounds } = sized;
    this.#hold(worst, 1);
    let dailyId: string | null = null;
    if (this.#daily) {
      try {
        const answer = await this.#reserveDaily(call, worst, signal, options);
        if (typeof answer === "string") {
          this.#hold(worst, -1);
          return answer;
        }
        dailyId = answer.id;
      } catch (error) {
        this.#hold(worst, -1);
        throw error;
      }
    }
    let released = false;
    return {
      worst,
      bounds,
      release: async () => {
        if (released) return;
        released = true;
        this.#hold(worst, -1);
        this.#wakeWaiters();
        if (dailyId === null || !this.#daily || options.keepDaily) return;
        // Left in place, it only lapses at its expiry: room held a little too long, never too little.
        await releaseDailySpend(this.#daily.sql, dailyId).catch((err: unknown) =>
          this.logger.warn({ err, callType: call.callType }, "could not release a daily budget reservation"),
        );
      },
    };
  }

  /** The daily reservation's id, or why it does not fit; waits while other calls' holds are the reason. */
  async #reserveDaily(
    call: { callType: string; attempt: number },
    worst: WorstCase,
    signal: AbortSignal | undefined,
    options: ReserveOptions,
  ): Promise<{ id: string } | string> {
    const { sql, budget } = this.#daily as DailyGuard;
    const ttlMs = options.dailyTtlMs ?? (this.#daily as DailyGuard).ttlMs;
    for (;;) {
      const answer = await reserveDailySpend(
        sql,
        { tokens: budget.dailyTokens, costUsd: budget.dailyCostUsd },
        {
          analysisId: this.tracker.analysisId,
          callType: call.callType,
          attempt: call.attempt,
          tokens: worst.tokens,
          costUsd: worst.costPico === null ? null : picoToUsd(worst.costPico),
          ttlMs,
        },
      );
      if (answer.ok) return { id: answer.id };
      if (options.noWait || !fitsOnceReleased(budget, worst, answer))
        return dailyRefusal(budget, worst, answer);
      // Other calls (any worker's) hold the room: ask again shortly, as they end.
      await sleep(DAILY_RETRY_MS + Math.floor(Math.random() * DAILY_RETRY_MS), undefined, { signal }).catch(
        () => undefined,
      );
      if (signal?.aborted) return "interrupted by shutdown";
    }
  }

  /**
   * The call at its stage's bounds when that fits beside `held`, else at the largest smaller
   * bounds that fit (never below the stage's minimum answer); null when not even that fits.
   */
  #largestFitting(
    shape: CallShape,
    spent: TokenTotals,
    held: { tokens: number; costPico: bigint },
  ): SizedCall | null {
    const fits = (call: SizedCall) => exceedsLimits(spent, held, call.worst, this.limits) === null;
    const full = sizeCall(shape, 1);
    if (fits(full)) return full;
    const floor = shape.minOutputTokens / shape.bounds.maxOutputTokens;
    if (!fits(sizeCall(shape, floor))) return null;
    let low = floor;
    let high = 1;
    for (let i = 0; i < 12; i++) {
      const mid = (low + high) / 2;
      if (fits(sizeCall(shape, mid))) low = mid;
      else high = mid;
    }
    return sizeCall(shape, low);
  }

  #refusal(shape: CallShape, spent: TokenTotals): string {
    const smallest = sizeCall(shape, shape.minOutputTokens / shape.bounds.maxOutputTokens);
    return exceedsLimits(spent, this.#held, smallest.worst, this.limits) ?? "no room left under the limit";
  }

  #nextRelease(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  #wakeWaiters(): void {
    const waiters = this.#waiters.splice(0);
    for (const wake of waiters) wake();
  }

  #hold(worst: WorstCase, sign: 1 | -1): void {
    this.#held.tokens += sign * worst.tokens;
    this.#held.costPico += BigInt(sign) * (worst.costPico ?? 0n);
  }
}

function dailyRefusal(budget: DailyBudget, worst: WorstCase, state: DailyState): string {
  if (
    budget.dailyTokens !== undefined &&
    state.spentTokens + state.heldTokens + worst.tokens > budget.dailyTokens
  ) {
    return `daily token budget ${n(budget.dailyTokens)}: the call may bill up to ${n(worst.tokens)} tokens; ${n(state.spentTokens)} spent today and ${n(state.heldTokens)} held by calls in flight`;
  }
  const cap = budget.dailyCostUsd === undefined ? null : usdToPico(budget.dailyCostUsd);
  const spent = usdToPico(state.spentCostUsd) + usdToPico(state.heldCostUsd);
  return cap === null
    ? "daily budget reached"
    : worst.costPico === null
      ? `daily cost budget ${formatUsd(cap)}: the model has no price, so a call's cost cannot be bounded`
      : `daily cost budget ${formatUsd(cap)}: the call may cost up to ${formatUsd(worst.costPico)}; ${formatUsd(spent)} spent or held today`;
}
