import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { picoToNumber, usdToPico } from "../../ledger/money.js";
import { spentToday } from "../../store/budget-repo.js";
import { budgetAlertsOn } from "../../store/budget-status-repo.js";
import type { ApiDeps } from "../api-deps.js";
import { budgetResponseSchema, ledgerErrorResponses } from "../schemas.js";

/** Fractions to 6 decimals, rounded down (as the enforcement computes them): 1 means all of it. */
const fraction = (spent: bigint, budget: bigint) => Number((spent * 1_000_000n) / budget) / 1_000_000;

/** GET /budget: today's (UTC) spend against the configured daily budget, and today's alerts. */
export function budgetRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/budget",
      {
        schema: {
          summary: "Today's spend against the daily budget",
          description:
            "Tokens and cost of every call since 00:00 UTC, the configured daily budgets (null when " +
            "unset), the alert threshold, and the alerts recorded today.",
          tags: ["analytics"],
          response: { 200: budgetResponseSchema, ...ledgerErrorResponses },
        },
      },
      async () => {
        const { budget } = deps.config;
        const spend = await spentToday(deps.sql);
        // The day is Postgres' (the same clock spentToday and the alerts use).
        const day = new Date(spend.resetsAt.getTime() - 86_400_000).toISOString().slice(0, 10);
        const alerts = await budgetAlertsOn(deps.sql, day);
        const costLimit = budget.dailyCostUsd === undefined ? null : usdToPico(budget.dailyCostUsd);
        return {
          day,
          tokens: {
            spent: spend.tokens,
            budget: budget.dailyTokens ?? null,
            fraction:
              budget.dailyTokens === undefined
                ? null
                : fraction(BigInt(spend.tokens), BigInt(budget.dailyTokens)),
          },
          cost_usd: {
            spent: picoToNumber(spend.costPico),
            budget: costLimit === null ? null : picoToNumber(costLimit),
            fraction: costLimit === null ? null : fraction(spend.costPico, costLimit),
          },
          alert_threshold: budget.alertThreshold,
          when_exceeded: budget.whenExceeded,
          alerts,
          resets_at: spend.resetsAt,
        };
      },
    );
  };
}
