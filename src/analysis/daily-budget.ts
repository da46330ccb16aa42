import type { DailyBudget } from "../config/config.js";
import { formatUsd, picoToUsd, usdToPico } from "../ledger/money.js";
import type { Logger } from "../logger.js";
import { type DaySpend, recordBudgetAlert, spentToday } from "../store/budget-repo.js";
import type { Sql } from "../store/database.js";

/** Today's budget is spent: new analyses are refused (or held until `resetsAt`). */
export class DailyBudgetExhaustedError extends Error {
  override name = "DailyBudgetExhaustedError";
  constructor(
    message: string,
    readonly resetsAt: Date,
  ) {
    super(message);
  }
}

export const hasDailyBudget = (budget: DailyBudget) =>
  budget.dailyTokens !== undefined || budget.dailyCostUsd !== undefined;

/** How much of each configured budget today's spend uses (1 = all of it). */
function usage(spend: DaySpend, budget: DailyBudget) {
  const fractions: {
    kind: "tokens" | "cost";
    fraction: number;
    spent: string;
    budget: string;
    text: string;
  }[] = [];
  if (budget.dailyTokens !== undefined) {
    fractions.push({
      kind: "tokens",
      fraction: spend.tokens / budget.dailyTokens,
      spent: String(spend.tokens),
      budget: String(budget.dailyTokens),
      text: `${spend.tokens.toLocaleString("en-US")} of ${budget.dailyTokens.toLocaleString("en-US")} tokens`,
    });
  }
  if (budget.dailyCostUsd !== undefined) {
    const limit = usdToPico(budget.dailyCostUsd);
    fractions.push({
      kind: "cost",
      fraction: Number((spend.costPico * 1_000_000n) / limit) / 1_000_000,
      spent: picoToUsd(spend.costPico),
      budget: budget.dailyCostUsd,
      text: `${formatUsd(spend.costPico)} of ${formatUsd(limit)}`,
    });
  }
  return fractions;
}

/** Throws DailyBudgetExhaustedError when today's spend has reached a configured daily budget. */
export async function assertDailyBudgetLeft(sql: Sql, budget: DailyBudget): Promise<void> {
  if (!hasDailyBudget(budget)) return;
  const spend = await spentToday(sql);
  const spent = usage(spend, budget).find((u) => u.fraction >= 1);
  if (spent) {
    throw new DailyBudgetExhaustedError(
      `daily budget reached: ${spent.text} used today (UTC); new analyses resume at ${spend.resetsAt.toISOString()}`,
      spend.resetsAt,
    );
  }
}

/**
 * After each analysis: logs (once per day, whichever worker gets there first) when today's
 * spend crosses the alert threshold and when it reaches the whole budget.
 */
export async function noteBudgetCrossings(
  deps: { sql: Sql; logger: Logger; onAlert?: (kind: string, threshold: number) => void },
  budget: DailyBudget,
): Promise<void> {
  if (!hasDailyBudget(budget)) return;
  const spend = await spentToday(deps.sql);
  for (const u of usage(spend, budget)) {
    for (const threshold of [budget.alertThreshold, 1]) {
      if (u.fraction < threshold) continue;
      if (!(await recordBudgetAlert(deps.sql, { kind: u.kind, threshold, spent: u.spent, budget: u.budget })))
        continue;
      deps.logger.warn(
        { budgetKind: u.kind, threshold, spent: u.spent, budget: u.budget },
        threshold >= 1
          ? `daily ${u.kind} budget reached: ${u.text}; new analyses are held until ${spend.resetsAt.toISOString()}`
          : `daily ${u.kind} budget alert: ${Math.round(threshold * 100)}% used (${u.text})`,
      );
      deps.onAlert?.(u.kind, threshold);
    }
  }
}
