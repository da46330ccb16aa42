import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Registry } from "prom-client";
import { workerMetricsRegistry } from "./worker-metrics.js";

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * GET /metrics for a worker process, which has no HTTP API of its own: call durations, live
 * trackers and the process' own figures. Ledger counters are the API's job (from Postgres).
 */
export async function startMetricsServer(options: { port: number; host?: string }): Promise<MetricsServer> {
  const processRegistry = new Registry();
  collectDefaultMetrics({ register: processRegistry });
  const server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    Promise.all([workerMetricsRegistry.metrics(), processRegistry.metrics()])
      .then(([worker, process]) =>
        response
          .writeHead(200, { "content-type": workerMetricsRegistry.contentType })
          .end(`${worker}\n${process}`),
      )
      .catch(() => response.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n"));
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
