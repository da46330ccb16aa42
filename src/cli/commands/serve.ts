import { buildApi } from "../../api/server.js";
import { migrate } from "../../store/migrate.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure, UsageError } from "../cli-errors.js";
import { parsePort } from "../input.js";

export interface ServeOptions {
  port?: string;
  host?: string;
}

// A hostname or an IPv4/IPv6 address; anything else is a typo better caught here.
const HOST_PATTERN = /^[A-Za-z0-9.:-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$/;

function parseHost(raw: string): string {
  if (!HOST_PATTERN.test(raw))
    throw new UsageError(`invalid host ${JSON.stringify(raw)}: use an address such as 127.0.0.1 or 0.0.0.0`);
  return raw.replace(/^\[(.*)\]$/, "$1");
}

/**
 * Serves the HTTP API, dashboard, /queues and /metrics until SIGTERM/SIGINT, then stops taking
 * requests, lets in-flight ones finish and closes Postgres and the queue. Binds 127.0.0.1 unless
 * --host says otherwise: the read endpoints need no token.
 */
export async function serveCommand(ctx: CliContext, options: ServeOptions): Promise<void> {
  const port = options.port === undefined ? 3000 : parsePort(options.port);
  const host = options.host === undefined ? "127.0.0.1" : parseHost(options.host);
  const { config, logger } = ctx;
  await migrate(config.databaseUrl, logger, config.databasePooling);
  const queue = ctx.queue();
  const app = await buildApi({ config, sql: ctx.sql, queueBackend: ctx.queueBackend, queue, logger });
  ctx.onClose(() => app.close());
  try {
    await app.listen({ port, host });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE") throw new CliFailure(`port ${port} on ${host} is already in use`);
    if (code === "EADDRNOTAVAIL") throw new CliFailure(`cannot bind ${host}: no such local address`);
    throw error;
  }
  const address = app.server.address();
  const bound = typeof address === "object" && address ? address : { address: host, port, family: "IPv4" };
  const shown = `http://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  process.stdout.write(
    `stock-ledger API listening on ${shown}\n` +
      `  dashboard ${shown}/   queues ${shown}/queues   metrics ${shown}/metrics   OpenAPI ${shown}/openapi.json\n` +
      (config.apiToken ? "" : "  API_TOKEN is not set: POST /analyses needs no token\n"),
  );
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  // The context's closers run next: the server (in-flight requests finish), the queue, Postgres.
  logger.info({ signal }, "shutting down the API: finishing in-flight requests");
}
