import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { dailyUsage } from "../../store/daily-usage-repo.js";
import type { ApiDeps } from "../api-deps.js";
import type { ApiMetrics } from "../metrics.js";
import { dailyUsageQuerySchema, dailyUsageResponseSchema, errorSchema } from "../schemas.js";

/** GET /metrics (Prometheus text) and GET /usage/daily (the dashboard's per-day chart). */
export function observabilityRoutes(deps: ApiDeps, metrics: ApiMetrics): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/metrics",
      {
        schema: {
          summary: "Prometheus metrics",
          description:
            "Ledger token, call and cost counters (gen_ai_client_token_usage, …) read from Postgres at " +
            "scrape time; analyses by status; queue depth; in-process worker metrics when a worker runs here.",
          tags: ["observability"],
          produces: ["text/plain"],
        },
      },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()),
    );

    app.get(
      "/usage/daily",
      {
        schema: {
          summary: "Tokens and cost per UTC day, from the ledger",
          tags: ["observability"],
          querystring: dailyUsageQuerySchema,
          response: { 200: dailyUsageResponseSchema, 400: errorSchema },
        },
      },
      async (request) => {
        const rows = await dailyUsage(deps.sql, request.query.days ?? 30);
        return { days: rows.map((row) => ({ ...row, cost_usd: Number(row.cost_usd) })) };
      },
    );
  };
}
