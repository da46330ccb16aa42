import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { dailyUsage } from "../../store/daily-usage-repo.js";
import { savingsByDay } from "../../store/savings-repo.js";
import type { ApiDeps } from "../api-deps.js";
import type { ApiMetrics } from "../metrics.js";
import {
  dailyUsageQuerySchema,
  dailyUsageResponseSchema,
  errorSchema,
  ledgerErrorResponses,
  textResponse,
} from "../schemas.js";

/** GET /metrics (Prometheus text) and GET /usage/daily (the dashboard's per-day chart). */
export function observabilityRoutes(deps: ApiDeps, metrics: ApiMetrics): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/metrics",
      {
        schema: {
          summary: "Prometheus metrics",
          description:
            "Ledger token, call and cost counters (stock_ledger_tokens_total, …) read from Postgres at " +
            "scrape time; analyses by status; queue depth; in-process worker metrics when a worker runs here.",
          tags: ["observability"],
          // Ledger or queue failures are reported in the metrics themselves (stock_ledger_metrics_source_up).
          response: { 200: textResponse("Prometheus text exposition format", "text/plain") },
        },
      },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()),
    );

    app.get(
      "/usage/daily",
      {
        schema: {
          summary: "Tokens, cost and savings per UTC day, from the ledger",
          description:
            "Per day: tokens and cost billed, tokens and cost saved by stage reuse (by the day the " +
            "analysis was created), by prompt caching and by batch mode (by the day the call started). " +
            "`tickers`: the same savings per ticker over the whole window.",
          tags: ["observability"],
          querystring: dailyUsageQuerySchema,
          response: { 200: dailyUsageResponseSchema, 400: errorSchema, ...ledgerErrorResponses },
        },
      },
      async (request) => {
        const days = request.query.days ?? 30;
        const now = new Date();
        const [rows, savings] = await Promise.all([
          dailyUsage(deps.sql, days, now),
          savingsByDay(deps.sql, days, now),
        ]);
        const saved = new Map(savings.days.map((d) => [d.day, d]));
        return {
          days: rows.map((row) => ({
            ...row,
            cost_usd: Number(row.cost_usd),
            reuse_tokens_saved: saved.get(row.day)?.reuse_tokens_saved ?? 0,
            reuse_cost_saved_usd: saved.get(row.day)?.reuse_cost_saved_usd ?? 0,
            cache_cost_saved_usd: saved.get(row.day)?.cache_cost_saved_usd ?? 0,
            batch_saved_usd: saved.get(row.day)?.batch_saved_usd ?? 0,
          })),
          tickers: savings.tickers,
        };
      },
    );
  };
}
