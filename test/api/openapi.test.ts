import type { FastifyInstance, InjectOptions } from "fastify";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../../src/api/server.js";
import { logger } from "../../src/logger.js";
import { openQueueBackend } from "../../src/queue/queue-backend.js";
import { createSql } from "../../src/store/database.js";
import { freePort } from "../helpers/cli.js";
import { type ApiHarness, startApiHarness } from "./api-harness.js";

/**
 * The OpenAPI document promises every status a route answers, and nothing it does not. SENDS
 * is the table of what each route can send; every row is a real request that gets that status,
 * and the document is walked to check each route documents exactly the statuses in the table.
 */

/** The servers the requests go to: one per way a request can fail. */
type Server =
  | "api" // as `serve` builds it
  | "secured" // API_TOKEN set
  | "capped" // DAILY_TOKEN_BUDGET=1, already spent today
  | "noTables" // a database that does not exist: an unexpected failure (500)
  | "noPostgres" // nothing listens where the database should be (503)
  | "noQueue"; // the queue's service does not answer (503)

interface Sent {
  status: number;
  server: Server;
  request: InjectOptions;
}

const TOKEN = "openapi-test-token-0123456789abcdef";
const KNOWN = "known-1";
const get = (server: Server, status: number, url: string): Sent => ({ status, server, request: { url } });
const post = (server: Server, status: number, payload: string, contentType = "application/json"): Sent => ({
  status,
  server,
  request: { method: "POST", url: "/analyses", payload, headers: { "content-type": contentType } },
});
const CANCELLABLE = "queued-1";
const cancel = (server: Server, status: number, id: string): Sent => ({
  status,
  server,
  request: { method: "POST", url: `/analyses/${id}/cancel` },
});
/** What the database can do to any route that reads the ledger. */
const ledgerFailures = (url: string): Sent[] => [get("noTables", 500, url), get("noPostgres", 503, url)];

const SENDS: Record<string, Sent[]> = {
  "POST /analyses": [
    post("api", 202, '{"tickers": ["TCS"]}'),
    post("api", 400, '{"tickers": ["<x>"]}'),
    post("secured", 401, '{"tickers": ["TCS"]}'),
    post("api", 409, `{"tickers": ["INFY"], "id": "${KNOWN}"}`),
    post("api", 413, JSON.stringify({ tickers: ["TCS"], model: "x".repeat(70_000) })),
    post("api", 415, "<tickers>TCS</tickers>", "application/xml"),
    post("capped", 429, '{"tickers": ["TCS"]}'),
    post("noTables", 500, '{"tickers": ["TCS"]}'),
    post("noQueue", 503, '{"tickers": ["TCS"]}'),
    post("noPostgres", 503, '{"tickers": ["TCS"]}'),
  ],
  "GET /analyses": [
    get("api", 200, "/analyses"),
    get("api", 400, "/analyses?limit=0"),
    ...ledgerFailures("/analyses"),
  ],
  "GET /analyses/{id}": [
    get("api", 200, `/analyses/${KNOWN}`),
    get("api", 400, "/analyses/007"),
    get("api", 404, "/analyses/nope-1"),
    ...ledgerFailures(`/analyses/${KNOWN}`),
  ],
  "GET /analyses/{id}/summary": [
    get("api", 200, `/analyses/${KNOWN}/summary`),
    get("api", 400, "/analyses/007/summary"),
    get("api", 404, "/analyses/nope-1/summary"),
    ...ledgerFailures(`/analyses/${KNOWN}/summary`),
  ],
  "POST /analyses/{id}/cancel": [
    cancel("secured", 401, CANCELLABLE),
    cancel("noTables", 500, CANCELLABLE),
    cancel("noPostgres", 503, CANCELLABLE),
    cancel("api", 200, CANCELLABLE),
    cancel("api", 400, "007"),
    cancel("api", 404, "nope-1"),
    cancel("api", 409, KNOWN),
  ],
  "GET /analyses/{id}/report": [
    get("api", 200, `/analyses/${KNOWN}/report`),
    get("api", 200, `/analyses/${KNOWN}/report?format=html`),
    get("api", 400, `/analyses/${KNOWN}/report?format=pdf`),
    get("api", 404, "/analyses/nope-1/report"),
    ...ledgerFailures(`/analyses/${KNOWN}/report`),
  ],
  "GET /stats": [
    get("api", 200, "/stats?by=ticker"),
    get("api", 400, "/stats?range=7d&since=2025-01-01"),
    ...ledgerFailures("/stats"),
  ],
  "GET /export": [
    get("api", 200, "/export?format=csv"),
    get("api", 200, "/export?format=json&what=calls"),
    get("api", 400, "/export?format=xml"),
    ...ledgerFailures("/export?format=csv"),
  ],
  "GET /budget": [get("api", 200, "/budget"), ...ledgerFailures("/budget")],
  "GET /usage/daily": [
    get("api", 200, "/usage/daily"),
    get("api", 400, "/usage/daily?days=0"),
    ...ledgerFailures("/usage/daily"),
  ],
  // Failures to read the ledger or the queue show in the metrics (stock_ledger_metrics_source_up).
  "GET /metrics": [get("api", 200, "/metrics"), get("noPostgres", 200, "/metrics")],
  "GET /healthz": [get("api", 200, "/healthz")],
  "GET /readyz": [get("api", 200, "/readyz"), get("noPostgres", 503, "/readyz")],
};

interface OpenApiResponse {
  description: string;
  content?: Record<string, unknown>;
}
type OpenApiDocument = {
  paths: Record<string, Record<string, { responses: Record<string, OpenApiResponse> }>>;
};

let api: ApiHarness;
let doc: OpenApiDocument;
const servers = {} as Record<Server, FastifyInstance>;
const cleanups: (() => Promise<unknown>)[] = [];

async function serverWith(overrides: {
  config?: Partial<ApiHarness["config"]>;
  sql?: ApiHarness["db"]["sql"];
  queue?: { backend: ApiHarness["queueBackend"]; queue: ApiHarness["queue"] };
}): Promise<FastifyInstance> {
  const app = await buildApi({
    config: { ...api.config, ...overrides.config },
    sql: overrides.sql ?? api.db.sql,
    queueBackend: overrides.queue?.backend ?? api.queueBackend,
    queue: overrides.queue?.queue ?? api.queue,
    logger,
  });
  cleanups.push(() => app.close());
  return app;
}

beforeAll(async () => {
  api = await startApiHarness();
  await api.db.sql`
    INSERT INTO stock_analyses (id, ticker, model, status) VALUES (${KNOWN}, 'TCS', 'gemini-2.5-flash', 'completed')`;
  await api.db.sql`
    INSERT INTO stock_analyses (id, ticker, model, status) VALUES (${CANCELLABLE}, 'TCS', 'gemini-2.5-flash', 'queued')`;
  // Today's spend, so a budget of one token is spent.
  await api.db.sql`
    INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
                           total_tokens, usage_source, started_at, duration_ms, cost_usd)
    VALUES (${KNOWN}, 'indicator_summary', 1, 'gemini-2.5-flash', 'success', 5, 0, 5, 'provider', now(), 10, 0.000001)`;

  const closedPort = await freePort();
  const deadUrl = `postgres://postgres@127.0.0.1:${closedPort}/nowhere`;
  const noTablesSql = createSql(`${api.db.url}_missing`, { max: 1 });
  // No reconnect backoff: postgres.js waits up to 20 s between attempts after repeated failures.
  const noPostgresSql = postgres(deadUrl, {
    max: 1,
    connect_timeout: 2,
    backoff: () => 0,
    onnotice: () => {},
  });
  cleanups.push(
    () => noTablesSql.end({ timeout: 1 }),
    () => noPostgresSql.end({ timeout: 1 }),
  );
  // The queue's own service away: Redis, or on the PostgreSQL backend its database.
  const deadQueueConfig = {
    ...api.config,
    redisUrl: `redis://127.0.0.1:${closedPort}`,
    databaseUrl: deadUrl,
  };
  const deadBackend = openQueueBackend(deadQueueConfig);
  const deadQueue = deadBackend.queue("producer");
  deadQueue.on("error", () => {});
  cleanups.push(
    () => deadQueue.close().catch(() => undefined),
    () => deadBackend.close(),
  );

  servers.api = api.app;
  servers.secured = await serverWith({ config: { apiToken: TOKEN } });
  servers.capped = await serverWith({ config: { budget: { ...api.config.budget, dailyTokens: 1 } } });
  servers.noTables = await serverWith({ sql: noTablesSql });
  servers.noPostgres = await serverWith({ sql: noPostgresSql });
  servers.noQueue = await serverWith({
    config: deadQueueConfig,
    queue: { backend: deadBackend, queue: deadQueue },
  });
  doc = (await api.app.inject({ url: "/openapi.json" })).json();
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await api?.close();
});

const operation = (route: string) => {
  const [method = "", path = ""] = route.split(" ");
  return doc.paths[path]?.[method.toLowerCase()];
};

describe("OpenAPI responses", () => {
  it("lists exactly the routes of the table", () => {
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(Object.keys(SENDS).sort());
  });

  it.each(Object.entries(SENDS))("%s documents exactly the statuses it sends", (route, sent) => {
    const documented = Object.keys(operation(route)?.responses ?? {}).map(Number);
    const sends = [...new Set(sent.map((s) => s.status))];
    expect(documented.sort()).toEqual(sends.sort());
  });

  const rows = Object.entries(SENDS).flatMap(([route, sent]) =>
    sent.map((s) => [route, s.status, s.server, s] as const),
  );
  it.each(rows)("%s answers %i (%s server), as documented", async (route, status, server, sent) => {
    const response = await servers[server].inject(sent.request);
    expect(response.statusCode, response.body.slice(0, 300)).toBe(status);
    const documented = operation(route)?.responses[String(status)];
    expect(documented, `${route} ${status} is not in the OpenAPI document`).toBeDefined();
    const mediaType = String(response.headers["content-type"] ?? "").split(";")[0];
    expect(Object.keys(documented?.content ?? {})).toContain(mediaType);
    if (status >= 400) {
      // `{"error", "message"}`, in the API's words: never a CLI flag.
      expect(response.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
      expect(response.json().message).not.toMatch(/(^|\s)--[a-z]/);
    }
  });
});
