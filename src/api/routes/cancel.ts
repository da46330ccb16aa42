import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { BatchCancelError, NotCancellableError } from "../../analysis/cancel-analysis.js";
import { cancelEnqueuedAnalysis } from "../../queue/cancel.js";
import { ANALYSIS_STATUSES } from "../../store/analyses-repo.js";
import type { ApiDeps } from "../api-deps.js";
import { requireBearerToken } from "../auth.js";
import { ApiError, notFound } from "../errors.js";
import { analysisIdParamsSchema, errorSchema, ledgerErrorResponses } from "../schemas.js";

/** As `cancel --json`. */
const cancelResponseSchema = z.object({
  id: z.string(),
  status: z.enum(ANALYSIS_STATUSES).describe("failed: the analysis ended, its error is `cancelled`"),
  withdrawn_requests: z.number().int().describe("its batch requests not sent yet, taken back"),
  cancelled_batches: z.number().int().describe("pending batches only it used, cancelled at the provider"),
});

/** The refusals of a cancel as API errors: unknown → 404, ended or held by a run → 409. */
function apiErrorOf(error: unknown): unknown {
  if (error instanceof NotCancellableError) {
    return error.reason === "missing"
      ? notFound(error.message)
      : new ApiError(409, "conflict", error.message);
  }
  // The provider would not cancel its batch: nothing changed, try again.
  if (error instanceof BatchCancelError) return new ApiError(503, "unavailable", error.message);
  return error;
}

/** POST /analyses/:id/cancel: as `stock-ledger cancel`. */
export function cancelRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    const { config } = deps;
    const auth = config.apiToken ? [requireBearerToken(config.apiToken)] : [];

    app.post(
      "/analyses/:id/cancel",
      {
        onRequest: auth,
        schema: {
          summary: "Cancel a queued or waiting analysis (as `cancel`)",
          description:
            "Ends an analysis that is queued, or running while no worker holds it (a batch analysis " +
            "waiting for its batch), as `failed` with error `cancelled`: its job is removed, its batch " +
            "requests not sent yet are withdrawn, and the pending batches no other analysis shares are " +
            "cancelled. Its totals are the sums of the calls it made; a batch it shares goes on, and what " +
            "it later bills for this analysis is added to them.",
          tags: ["analyses"],
          params: analysisIdParamsSchema,
          response: {
            200: cancelResponseSchema,
            400: errorSchema.describe("the id is not a valid analysis id"),
            401: errorSchema.describe(
              "API_TOKEN is set and the request has no valid `Authorization: Bearer` header",
            ),
            404: errorSchema.describe("no analysis has this id"),
            409: errorSchema.describe(
              "the analysis has already ended, or a worker is running it (try again when it waits)",
            ),
            500: ledgerErrorResponses[500],
            503: errorSchema.describe(
              "the database is unavailable, or the provider would not cancel the analysis' batch; try again",
            ),
          },
          ...(config.apiToken ? { security: [{ bearer: [] }] } : {}),
        },
      },
      async (request) => {
        const outcome = await cancelEnqueuedAnalysis(deps, request.params.id).catch((error: unknown) => {
          throw apiErrorOf(error);
        });
        return {
          id: outcome.row.id,
          status: outcome.row.status,
          withdrawn_requests: outcome.withdrawnRequests,
          cancelled_batches: outcome.cancelledBatches,
        };
      },
    );
  };
}
