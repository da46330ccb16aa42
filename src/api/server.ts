import fastifySwagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from "fastify-type-provider-zod";
import { installPriceBook } from "../config/price-book-file.js";
import type { ApiDeps } from "./api-deps.js";
import { mountQueueBoard } from "./bull-board.js";
import { apiErrorHandler, apiNotFoundHandler } from "./errors.js";
import { ApiMetrics } from "./metrics.js";
import { analysesRoutes } from "./routes/analyses.js";
import { analysisReportRoutes } from "./routes/analysis-report.js";
import { budgetRoutes } from "./routes/budget.js";
import { cancelRoutes } from "./routes/cancel.js";
import { dashboardRoutes } from "./routes/dashboard.js";
import { healthRoutes } from "./routes/health.js";
import { observabilityRoutes } from "./routes/observability.js";
import { reportsRoutes } from "./routes/reports.js";

/**
 * The HTTP API of DESIGN §9, the dashboard at /, bull-board at /queues and /metrics, on one
 * fastify instance. Request input is validated with the CLI's zod schemas; the OpenAPI
 * document at /openapi.json is generated from the same schemas.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  // PRICE_BOOK_FILE prices what POST /analyses checks; a bad file stops the server at start.
  installPriceBook(deps.config);
  const log = deps.logger.child({ component: "api" });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // The dashboard polls every 2 s: per-request lines would drown the log. Errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(apiErrorHandler(log));
  app.setNotFoundHandler(apiNotFoundHandler);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "stock-ledger API",
        description: "LLM token and cost ledger for six-stage Gemini stock analyses",
        version: "0.1.0",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  const metrics = new ApiMetrics(deps);
  await app.register(healthRoutes(deps));
  await app.register(analysesRoutes(deps));
  await app.register(analysisReportRoutes(deps));
  await app.register(cancelRoutes(deps));
  await app.register(observabilityRoutes(deps, metrics));
  await app.register(reportsRoutes(deps));
  await app.register(budgetRoutes(deps));
  await app.register(dashboardRoutes);
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  await mountQueueBoard(app, deps.queue);
  await app.ready();
  return app;
}
