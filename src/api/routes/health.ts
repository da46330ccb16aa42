import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { explainDbError } from "../../cli/cli-errors.js";
import { withTimeout } from "../../timeout.js";
import { type ApiDeps, queueCheckName } from "../api-deps.js";
import { readinessSchema } from "../schemas.js";

const CHECK_TIMEOUT_MS = 2_000;

/** "ok", or one line saying why not; never longer than CHECK_TIMEOUT_MS. */
async function check(what: () => Promise<unknown>): Promise<string> {
  try {
    await withTimeout(what(), CHECK_TIMEOUT_MS, () => new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`));
    return "ok";
  } catch (error) {
    return explainDbError(error) ?? (error instanceof Error ? error.message : String(error));
  }
}

/** GET /healthz (the process answers) and GET /readyz (Postgres with our schema, and the queue). */
export function healthRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/healthz",
      {
        schema: {
          summary: "Liveness: the process is up",
          tags: ["health"],
          response: { 200: z.object({ status: z.literal("ok") }) },
        },
      },
      async () => ({ status: "ok" as const }),
    );

    app.get(
      "/readyz",
      {
        schema: {
          summary: "Readiness: Postgres (migrated) and the queue answer",
          description:
            "`checks.redis` is the queue on Redis; with QUEUE_BACKEND=postgres it is `checks.queue`. 503 names the dependency that failed.",
          tags: ["health"],
          response: {
            200: readinessSchema,
            503: readinessSchema.extend({ error: z.string(), message: z.string() }),
          },
        },
      },
      async (_request, reply) => {
        const [postgres, queue] = await Promise.all([
          check(() => deps.sql`SELECT 1 FROM stock_analyses LIMIT 1`),
          check(() => deps.queue.getJobCounts("waiting")),
        ]);
        const checks = { postgres, [queueCheckName(deps)]: queue };
        const failed = Object.entries(checks).filter(([, result]) => result !== "ok");
        if (failed.length === 0) return { status: "ready" as const, checks };
        return reply.code(503).send({
          status: "not_ready" as const,
          checks,
          error: "not_ready",
          message: failed.map(([name, result]) => `${name}: ${result}`).join("; "),
        });
      },
    );
  };
}
