import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { SamplePriceProvider } from "../../market/sample-provider.js";
import { buildReport } from "../../report/build-report.js";
import { REPORT_CSP_HEADER, renderHtmlReport } from "../../report/render-html.js";
import { renderMarkdownReport } from "../../report/render-markdown.js";
import type { ApiDeps } from "../api-deps.js";
import { notFound } from "../errors.js";
import {
  analysisIdParamsSchema,
  errorSchema,
  ledgerErrorResponses,
  reportQuerySchema,
  textResponse,
} from "../schemas.js";

/** Markdown over HTTP has nowhere to put chart files: it points at the HTML report instead. */
const MARKDOWN_CHARTS_NOTE =
  "Charts are not part of the Markdown report over HTTP: `?format=html` embeds the four of them.";

/** GET /analyses/:id/report (DESIGN §12): the `report` command's output, over HTTP. */
export function analysisReportRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    // Parsed once per server, not per request.
    const samples = new SamplePriceProvider();

    app.get(
      "/analyses/:id/report",
      {
        schema: {
          summary: "What an analysis concluded, as `stock-ledger report` renders it",
          description:
            "Ticker, market data source and period, decision, each stage's answer, the four charts " +
            "(format=html: embedded as data: PNGs; format=md: left out, with a note), then tokens and cost. " +
            "The HTML page has no scripts and loads nothing; it is sent with a Content-Security-Policy.",
          tags: ["analyses"],
          params: analysisIdParamsSchema,
          querystring: reportQuerySchema,
          response: {
            200: textResponse(
              "the report: Markdown (format=md, the default) or HTML",
              "text/markdown",
              "text/html",
            ),
            400: errorSchema.describe("an invalid analysis id or format"),
            404: errorSchema,
            ...ledgerErrorResponses,
          },
        },
      },
      async (request, reply) => {
        const format = request.query.format ?? "md";
        // Charts cost ~0.4 s of CPU: drawn only for the format that carries them.
        const report = await buildReport(deps.sql, request.params.id, { charts: format === "html", samples });
        if (!report) throw notFound(`analysis ${request.params.id} not found`);
        reply.header("cache-control", "no-store").header("x-content-type-options", "nosniff");
        if (format === "md") {
          return reply
            .type("text/markdown; charset=utf-8")
            .send(renderMarkdownReport(report, { note: MARKDOWN_CHARTS_NOTE }));
        }
        return reply
          .type("text/html; charset=utf-8")
          .header("content-security-policy", REPORT_CSP_HEADER)
          .header("referrer-policy", "no-referrer")
          .send(renderHtmlReport(report));
      },
    );
  };
}
