import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { parseStatus } from "../../cli/input.js";
import type { StatsOptionName } from "../../store/stats-periods.js";
import { loadStats, parseStatsOptions } from "../../store/stats-repo.js";
import type { ApiDeps } from "../api-deps.js";
import { ApiError } from "../errors.js";
import { CALL_STATUSES, EXPORT_CONTENT_TYPES, exportStream } from "../export-stream.js";
import {
  errorSchema,
  exportQuerySchema,
  ledgerErrorResponses,
  statsQuerySchema,
  statsResponseSchema,
  textResponse,
} from "../schemas.js";

/** How the API names a stats option in its messages: by its query parameter. */
const queryParameter: StatsOptionName = (option) => option;

/** GET /stats (as `stats --json`) and GET /export (as `export`, streamed). */
export function reportsRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    const { sql } = deps;

    app.get(
      "/stats",
      {
        schema: {
          summary: "Tokens, cost, calls and latency by stage, model, ticker or day (as `stats --json`)",
          description:
            "Read from the daily rollups. Whole UTC days; `range` or `since`/`until`, not both. Each " +
            "group also says what stage reuse, prompt caching and batch mode saved.",
          tags: ["analytics"],
          querystring: statsQuerySchema,
          response: { 200: statsResponseSchema, 400: errorSchema, ...ledgerErrorResponses },
        },
      },
      // parseStatsOptions throws UsageError (→ 400) on a bad day or range and since together,
      // naming the query parameters. The loose schema passes every field of StatsReport
      // through, as the CLI prints it.
      async (request) =>
        (await loadStats(sql, parseStatsOptions(request.query, new Date(), queryParameter))) as never,
    );

    app.get(
      "/export",
      {
        schema: {
          summary: "Analyses or calls as CSV or NDJSON (as `export`), streamed",
          description:
            "The same columns as `stock-ledger export`: CSV with a header row, or one JSON object per " +
            "line. Rows oldest first; sent chunked as they are read, so any size streams in flat memory.",
          tags: ["analytics"],
          querystring: exportQuerySchema,
          response: {
            200: textResponse(
              "CSV with a header row (format=csv) or NDJSON (format=json)",
              "text/csv",
              "application/x-ndjson",
            ),
            400: errorSchema,
            ...ledgerErrorResponses,
          },
        },
      },
      async (request, reply) => {
        const { format, what = "analyses", since, until, ticker, status } = request.query;
        if (
          status !== undefined &&
          what === "calls" &&
          !(CALL_STATUSES as readonly string[]).includes(status)
        ) {
          throw new ApiError(
            400,
            "bad_request",
            `invalid status ${JSON.stringify(status)}: a call status is one of ${CALL_STATUSES.join(", ")}`,
          );
        }
        const filter = {
          since,
          until,
          ticker,
          status: status === undefined ? undefined : what === "analyses" ? parseStatus(status) : status,
        };
        if (since && until && since >= until) {
          throw new ApiError(400, "bad_request", "invalid range: since must be before until");
        }
        const stream = await exportStream(sql, format, what, filter);
        return (
          reply
            .type(EXPORT_CONTENT_TYPES[format])
            .header(
              "content-disposition",
              `inline; filename="${what}.${format === "csv" ? "csv" : "ndjson"}"`,
            )
            .header("cache-control", "no-store")
            // Fastify pipes a stream as is (chunked), past the response schemas.
            .send(stream as never)
        );
      },
    );
  };
}
