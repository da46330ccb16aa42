import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { analysisJson, callJson, renderSummary } from "../../cli/render.js";
import { assertPricedModel } from "../../ledger/pricing.js";
import { batchOptionsRefusal, enqueueAnalyses } from "../../queue/enqueue.js";
import { assertQueueReachable } from "../../queue/queue-check.js";
import { getAnalysis, listAnalyses } from "../../store/analyses-repo.js";
import { listCalls } from "../../store/calls-repo.js";
import type { ApiDeps } from "../api-deps.js";
import { requireBearerToken } from "../auth.js";
import { CapCheck } from "../cap-check.js";
import { encodeCursor } from "../cursor.js";
import { ApiError, notFound } from "../errors.js";
import {
  analysisDetailSchema,
  analysisIdParamsSchema,
  enqueueBodySchema,
  enqueueResponseSchema,
  errorSchema,
  ledgerErrorResponses,
  listQuerySchema,
  listResponseSchema,
  textResponse,
} from "../schemas.js";

const DEFAULT_PAGE = 20;

/** POST /analyses, GET /analyses, GET /analyses/:id, GET /analyses/:id/summary (DESIGN §9). */
export function analysesRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    const { sql, queue, config } = deps;
    const auth = config.apiToken ? [requireBearerToken(config.apiToken)] : [];
    const capCheck = new CapCheck(deps);
    app.addHook("onClose", () => capCheck.close());

    app.post(
      "/analyses",
      {
        onRequest: auth,
        schema: {
          summary: "Enqueue analyses",
          description:
            "Queues one analysis per ticker. With `id` (one ticker) the request is idempotent: " +
            "repeating it returns the same analysis and queues nothing new. The other fields are " +
            "`analyze`'s options. A model the price book does not know is refused (400) unless " +
            "`allow_unpriced` is true; a spent daily budget answers 429 (or, with DAILY_BUDGET_EXCEEDED=queue, " +
            "the analysis waits for the reset); an unreachable queue (Redis) answers 503. Refused, nothing is written.",
          tags: ["analyses"],
          body: enqueueBodySchema,
          response: {
            202: enqueueResponseSchema,
            400: errorSchema.describe("a field is invalid, or an analysis cannot fit under its cap"),
            401: errorSchema.describe(
              "API_TOKEN is set and the request has no valid `Authorization: Bearer` header",
            ),
            409: errorSchema.describe("`id` already names an analysis of another ticker"),
            413: errorSchema.describe("the body is larger than 64 KiB"),
            415: errorSchema.describe("the body is not `application/json`"),
            429: errorSchema.describe(
              "today's budget (DAILY_TOKEN_BUDGET / DAILY_COST_BUDGET_USD) is spent and DAILY_BUDGET_EXCEEDED=refuse; nothing was written",
            ),
            500: ledgerErrorResponses[500],
            503: errorSchema.describe("the queue or the database is unreachable; nothing was written"),
          },
          ...(config.apiToken ? { security: [{ bearer: [] }] } : {}),
        },
      },
      async (request, reply) => {
        const { tickers, id, max_tokens, max_cost_usd, reuse, context_cache, allow_partial, allow_unpriced } =
          request.body;
        const { batch, batch_fallback } = request.body;
        const batchRefusal = batchOptionsRefusal(
          { batch, batchFallback: batch_fallback, contextCache: context_cache },
          { batch: "batch", batchFallback: "batch_fallback", contextCache: "context_cache" },
        );
        if (batchRefusal) throw new ApiError(400, "bad_request", batchRefusal);
        if (id !== undefined && tickers.length !== 1) {
          throw new ApiError(400, "bad_request", "id takes exactly one ticker");
        }
        if (new Set(tickers).size !== tickers.length) {
          throw new ApiError(400, "bad_request", "a ticker is listed twice");
        }
        const model = request.body.model ?? config.gemini.model;
        // Refused (400) before anything is read or written: costs of null only when asked for.
        assertPricedModel(model, { allowUnpriced: allow_unpriced ?? false, flag: "allow_unpriced" });
        if ((max_tokens !== undefined || max_cost_usd !== undefined) && !allow_partial) {
          await capCheck.refuseWhatCannotFit({
            tickers,
            model,
            maxTokens: max_tokens,
            maxCostUsd: max_cost_usd,
            batch,
          });
        }
        if (id !== undefined) {
          const existing = await getAnalysis(sql, id);
          if (existing && existing.ticker !== tickers[0]) {
            throw new ApiError(
              409,
              "conflict",
              `analysis id ${id} already exists for ticker ${existing.ticker}`,
            );
          }
        }
        // Before any row is written: an unreachable queue answers 503 in seconds (ServiceUnreachableError).
        await assertQueueReachable(queue, deps.queueBackend);
        const analyses = await enqueueAnalyses(
          { sql, queue, budget: config.budget },
          {
            tickers,
            model,
            id,
            maxTokens: max_tokens,
            maxCostUsd: max_cost_usd,
            reuse: reuse ?? config.reuse.byDefault,
            contextCache: context_cache ?? false,
            allowPartial: allow_partial ?? false,
            batch: batch ?? false,
            batchFallback: batch_fallback ?? "none",
          },
        );
        return reply.code(202).send({ analyses: analyses.map((a) => ({ id: a.id, ticker: a.ticker })) });
      },
    );

    app.get(
      "/analyses",
      {
        schema: {
          summary: "List analyses, newest first",
          description: "Keyset-paginated: pass `next_cursor` back as `cursor` until it is null.",
          tags: ["analyses"],
          querystring: listQuerySchema,
          response: { 200: listResponseSchema, 400: errorSchema, ...ledgerErrorResponses },
        },
      },
      async (request) => {
        const { ticker, status, since, until, limit = DEFAULT_PAGE, cursor } = request.query;
        const rows = await listAnalyses(sql, {
          ticker,
          status,
          since,
          until,
          before: cursor,
          limit: limit + 1,
        });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          analyses: page.map(analysisJson),
          next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
        } as never;
      },
    );

    app.get(
      "/analyses/:id",
      {
        schema: {
          summary: "One analysis with all its LLM calls (as `show --json`)",
          tags: ["analyses"],
          params: analysisIdParamsSchema,
          response: {
            200: analysisDetailSchema,
            400: errorSchema,
            404: errorSchema,
            ...ledgerErrorResponses,
          },
        },
      },
      async (request) => {
        const row = await getAnalysis(sql, request.params.id);
        if (!row) throw notFound(`analysis ${request.params.id} not found`);
        const calls = await listCalls(sql, row.id);
        return { ...analysisJson(row), calls: calls.map(callJson) } as never;
      },
    );

    app.get(
      "/analyses/:id/summary",
      {
        schema: {
          summary: "The text summary of an analysis (as `summary`)",
          tags: ["analyses"],
          params: analysisIdParamsSchema,
          response: {
            200: textResponse("the summary, as `stock-ledger summary` prints it", "text/plain"),
            400: errorSchema,
            404: errorSchema,
            ...ledgerErrorResponses,
          },
        },
      },
      async (request, reply) => {
        const row = await getAnalysis(sql, request.params.id);
        if (!row) throw notFound(`analysis ${request.params.id} not found`);
        return reply.type("text/plain; charset=utf-8").send(`${renderSummary(row)}\n`);
      },
    );
  };
}
