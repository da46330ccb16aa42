import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../../src/api/server.js";
import { logger } from "../../src/logger.js";
import { openQueueBackend } from "../../src/queue/queue-backend.js";
import { runCli } from "../helpers/cli.js";
import { QUEUE_BACKEND } from "../helpers/services.js";
import { type ApiHarness, securedApi, startApiHarness } from "./api-harness.js";

const TOKEN = "s3cret-token-for-tests-0123456789";
let api: ApiHarness;
let securedApp: FastifyInstance;

async function countRows(): Promise<number> {
  const [row] = await api.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stock_analyses`;
  return row?.n ?? -1;
}

async function insertAnalysis(fields: { id: string; ticker: string; status?: string; createdAt?: string }) {
  await api.db.sql`
    INSERT INTO stock_analyses (id, ticker, model, status, created_at)
    VALUES (${fields.id}, ${fields.ticker}, 'gemini-2.5-flash', ${fields.status ?? "completed"},
            ${fields.createdAt ?? new Date().toISOString()}::timestamptz)`;
}

const post = (app: FastifyInstance, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: "POST", url: "/analyses", payload: payload as object, headers });

/** readyz's name for the queue's check: the Redis one, or the PostgreSQL backend's. */
const queueCheck = QUEUE_BACKEND === "redis" ? "redis" : "queue";

beforeAll(async () => {
  api = await startApiHarness();
  // A second server on the same database and queue, with API_TOKEN set.
  securedApp = await securedApi(api, TOKEN);
});

afterAll(async () => {
  await securedApp?.close();
  await api?.close();
});

describe("POST /analyses", () => {
  it("queues one analysis per ticker and answers 202 with their ids", async () => {
    const response = await post(api.app, { tickers: ["reliance", "TCS.NS"] });
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toEqual({
      analyses: [
        { id: expect.stringMatching(/^an_/), ticker: "RELIANCE" },
        { id: expect.stringMatching(/^an_/), ticker: "TCS.NS" },
      ],
    });
    for (const { id, ticker } of body.analyses) {
      const [row] = await api.db.sql`SELECT ticker, status, model FROM stock_analyses WHERE id = ${id}`;
      expect(row).toEqual({ ticker, status: "queued", model: "gemini-2.5-flash" });
      expect((await api.queue.getJob(id))?.data).toEqual({
        analysisId: id,
        ticker,
        model: "gemini-2.5-flash",
      });
    }
  });

  it("is idempotent with a client id and refuses the id for another ticker", async () => {
    const first = await post(api.app, { tickers: ["INFY"], id: "client-7", model: "gemini-2.5-pro" });
    const again = await post(api.app, { tickers: ["INFY"], id: "client-7", model: "gemini-2.5-pro" });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(first.json()).toEqual({ analyses: [{ id: "client-7", ticker: "INFY" }] });
    const rows = await api.db.sql`SELECT model FROM stock_analyses WHERE id = 'client-7'`;
    expect(rows).toEqual([{ model: "gemini-2.5-pro" }]);

    const other = await post(api.app, { tickers: ["TCS"], id: "client-7" });
    expect(other.statusCode).toBe(409);
    expect(other.json()).toEqual({
      error: "conflict",
      message: "analysis id client-7 already exists for ticker INFY",
    });
  });

  it.each([
    [
      { tickers: ["<script>"] },
      'invalid tickers[0] "<script>": must be 1-20 of A-Z 0-9 . & - starting with a letter or digit',
    ],
    [{ tickers: ["TCS", "bad ticker"] }, 'invalid tickers[1] "bad ticker": must be 1-20 of A-Z 0-9 . & -'],
    [{ tickers: [] }, "invalid tickers []: needs at least one ticker"],
    [{}, "missing body tickers"],
    [{ ticker: "TCS" }, 'unknown field "ticker"'],
    [{ tickers: "TCS" }, 'invalid tickers "TCS": Invalid input: expected array, received string'],
    [
      { tickers: ["TCS"], model: "GPT 4" },
      'invalid model "GPT 4": must be a model name such as gemini-2.5-flash',
    ],
    [{ tickers: ["TCS"], id: "12345" }, 'invalid id "12345": must not be all digits'],
    [{ tickers: ["TCS"], id: "a:b" }, 'invalid id "a:b": must be 1-64 of A-Z a-z 0-9 _ -'],
    [{ tickers: ["TCS", "INFY"], id: "two" }, "id takes exactly one ticker"],
    [{ tickers: ["TCS", "tcs"] }, "a ticker is listed twice"],
  ])("refuses %j with 400 and one line naming the field, writing nothing", async (payload, message) => {
    const before = await countRows();
    const response = await post(api.app, payload);
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe("bad_request");
    expect(response.json().message).toContain(message);
    expect(response.json().message).not.toContain("\n");
    expect(Object.keys(response.json())).toEqual(["error", "message"]);
    expect(await countRows()).toBe(before);
  });

  it("refuses a body that is not JSON", async () => {
    const broken = await api.app.inject({
      method: "POST",
      url: "/analyses",
      payload: '{"tickers": [',
      headers: { "content-type": "application/json" },
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toEqual({
      error: "bad_request",
      message: expect.stringContaining("not valid JSON"),
    });
    const text = await api.app.inject({
      method: "POST",
      url: "/analyses",
      payload: "TCS",
      headers: { "content-type": "text/plain" },
    });
    expect(text.statusCode).toBe(400);
    expect(text.json()).toEqual({
      error: "bad_request",
      message: "invalid body: Invalid input: expected object, received string",
    });
    const xml = await api.app.inject({
      method: "POST",
      url: "/analyses",
      payload: "<tickers/>",
      headers: { "content-type": "application/xml" },
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json().error).toBe("unsupported_media_type");
    expect(xml.body).not.toMatch(/at .*\.(ts|js):\d+/);
  });
});

describe("API_TOKEN", () => {
  it("requires Authorization: Bearer on POST, checked before the body", async () => {
    const missing = await post(securedApp, { tickers: ["TCS"] });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(missing.json()).toEqual({
      error: "unauthorized",
      message: "this endpoint needs an Authorization: Bearer <API_TOKEN> header",
    });
    const wrong = await post(securedApp, { tickers: ["TCS"] }, { authorization: `Bearer ${TOKEN}x` });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: "unauthorized", message: "the bearer token is not valid" });
    const basic = await post(securedApp, { tickers: ["TCS"] }, { authorization: `Basic ${TOKEN}` });
    expect(basic.statusCode).toBe(401);
    const badBodyNoToken = await post(securedApp, { tickers: ["<x>"] });
    expect(badBodyNoToken.statusCode).toBe(401);

    const ok = await post(securedApp, { tickers: ["TCS"] }, { authorization: `Bearer ${TOKEN}` });
    expect(ok.statusCode).toBe(202);
  });

  it("leaves reads open", async () => {
    expect((await securedApp.inject({ url: "/analyses" })).statusCode).toBe(200);
    expect((await securedApp.inject({ url: "/healthz" })).statusCode).toBe(200);
  });
});

describe("GET /analyses", () => {
  // Seven rows in one millisecond (microseconds apart, two equal): a cursor that kept only a
  // JS Date's milliseconds would skip or repeat rows here.
  const created = [
    "2025-03-01T10:00:00.000100Z",
    "2025-03-01T10:00:00.000200Z",
    "2025-03-01T10:00:00.000300Z",
    "2025-03-01T10:00:00.000300Z",
    "2025-03-01T10:00:00.000400Z",
    "2025-03-01T10:00:00.000500Z",
    "2025-03-01T10:00:00.000600Z",
  ];
  const ids = created.map((_, i) => `page-${i + 1}`);
  const newestFirst = [...ids].reverse().sort((a, b) => {
    const ta = created[ids.indexOf(a)] as string;
    const tb = created[ids.indexOf(b)] as string;
    return ta === tb ? (a < b ? 1 : -1) : ta < tb ? 1 : -1;
  });

  beforeAll(async () => {
    for (const [i, id] of ids.entries()) {
      await insertAnalysis({
        id,
        ticker: "PAGE",
        createdAt: created[i],
        status: i % 2 ? "failed" : "completed",
      });
    }
    await insertAnalysis({ id: "old-one", ticker: "OLD", createdAt: "2024-01-15T12:00:00Z" });
  });

  it("pages through every row exactly once with next_cursor", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/analyses?ticker=page&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const response = await api.app.inject({ url });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.analyses.length).toBeLessThanOrEqual(2);
      seen.push(...body.analyses.map((a: { id: string }) => a.id));
      cursor = body.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual(newestFirst);
    expect(pages).toBe(4);
  });

  it("filters by status and by date range", async () => {
    const failed = (await api.app.inject({ url: "/analyses?ticker=PAGE&status=failed" })).json();
    expect(failed.analyses.map((a: { id: string }) => a.id).sort()).toEqual(["page-2", "page-4", "page-6"]);
    expect(failed.next_cursor).toBeNull();

    const range = (await api.app.inject({ url: "/analyses?since=2024-01-01&until=2024-02-01" })).json();
    expect(range.analyses.map((a: { id: string }) => a.id)).toEqual(["old-one"]);
    const exclusive = (
      await api.app.inject({ url: "/analyses?since=2024-01-01&until=2024-01-15T12:00:00Z" })
    ).json();
    expect(exclusive.analyses).toEqual([]);
  });

  it("prints rows as `list --json` does", async () => {
    const fromApi = (await api.app.inject({ url: "/analyses?ticker=PAGE&limit=5" })).json();
    const cli = await runCli(["list", "--ticker", "PAGE", "--limit", "5", "--json"], cliEnv());
    expect(cli.stderr).toBe("");
    expect(fromApi.analyses).toEqual(JSON.parse(cli.stdout).analyses);
  });

  it.each([
    ["limit=0", 'invalid limit "0": must be a whole number from 1 to 1000'],
    ["limit=abc", 'invalid limit "abc": must be a whole number from 1 to 1000'],
    ["status=done", 'invalid status "done"'],
    ["ticker=%3Cb%3E", 'invalid ticker "<b>"'],
    ["since=2024-13-45", 'invalid since "2024-13-45": use YYYY-MM-DD or an ISO timestamp'],
    ["until=yesterday", 'invalid until "yesterday"'],
    ["cursor=garbage", 'invalid cursor "garbage": not a cursor from a previous page\'s next_cursor'],
    ["tickr=TCS", 'unknown query parameter "tickr"'],
  ])("refuses ?%s with 400", async (query, message) => {
    const response = await api.app.inject({ url: `/analyses?${query}` });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: "bad_request", message: expect.stringContaining(message) });
  });
});

function cliEnv() {
  return {
    DATABASE_URL: api.db.url,
    REDIS_URL: api.config.redisUrl,
    QUEUE_PREFIX: api.config.queuePrefix,
    QUEUE_BACKEND: api.config.queueBackend,
  };
}

describe("GET /analyses/:id and /summary", () => {
  beforeAll(async () => {
    await insertAnalysis({ id: "detail-1", ticker: "M&M", status: "running" });
    await api.db.sql`
      INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
                             thinking_tokens, total_tokens, usage_source, error_type, error_message,
                             started_at, duration_ms, cost_usd)
      VALUES ('detail-1', 'indicator_summary', 1, 'gemini-2.5-flash', 'failure', 900, 40, 10, 940,
              'provider', 'malformed_output', 'Unexpected token < in JSON', now(), 812, 0.000370000000)`;
  });

  it("answers as `show --json` and `summary` print", async () => {
    const detail = await api.app.inject({ url: "/analyses/detail-1" });
    expect(detail.statusCode).toBe(200);
    const show = await runCli(["show", "detail-1", "--json"], cliEnv());
    expect(detail.json()).toEqual(JSON.parse(show.stdout));
    expect(detail.json().calls).toHaveLength(1);
    expect(detail.json().calls[0]).toMatchObject({ cost_usd: 0.00037, error_type: "malformed_output" });

    const summary = await api.app.inject({ url: "/analyses/detail-1/summary" });
    expect(summary.statusCode).toBe(200);
    expect(summary.headers["content-type"]).toBe("text/plain; charset=utf-8");
    const cli = await runCli(["summary", "detail-1"], cliEnv());
    expect(summary.body).toBe(cli.stdout);
    expect(summary.body).toContain("📊 Token Usage Summary for M&M");
  });

  it("answers 404 for an unknown id and 400 for a malformed one", async () => {
    for (const url of ["/analyses/nope-42", "/analyses/nope-42/summary"]) {
      const response = await api.app.inject({ url });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error: "not_found", message: "analysis nope-42 not found" });
    }
    const malformed = await api.app.inject({ url: "/analyses/007" });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().message).toBe('invalid id "007": must not be all digits');
    const route = await api.app.inject({ url: "/nowhere" });
    expect(route.statusCode).toBe(404);
    expect(route.json()).toEqual({ error: "not_found", message: "no route GET /nowhere" });
  });
});

describe("health, OpenAPI, queue board, per-day usage", () => {
  it("answers /healthz and /readyz", async () => {
    expect((await api.app.inject({ url: "/healthz" })).json()).toEqual({ status: "ok" });
    const ready = await api.app.inject({ url: "/readyz" });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: "ready", checks: { postgres: "ok", [queueCheck]: "ok" } });
  });

  it("serves an OpenAPI document generated from the zod schemas", async () => {
    const response = await api.app.inject({ url: "/openapi.json" });
    expect(response.statusCode).toBe(200);
    const doc = response.json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/analyses",
      "/analyses/{id}",
      "/analyses/{id}/cancel",
      "/analyses/{id}/report",
      "/analyses/{id}/summary",
      "/budget",
      "/export",
      "/healthz",
      "/metrics",
      "/readyz",
      "/stats",
      "/usage/daily",
    ]);
    const body = doc.paths["/analyses"].post.requestBody.content["application/json"].schema;
    expect(body.required).toEqual(["tickers"]);
    expect(body.properties.id.pattern).toBe("^[A-Za-z0-9_-]{1,64}$");
    expect(body.additionalProperties).toBe(false);
    const query = doc.paths["/analyses"].get.parameters.map((p: { name: string }) => p.name);
    expect(query).toEqual(["ticker", "status", "since", "until", "limit", "cursor"]);
    expect(doc.paths["/analyses"].post.responses["400"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/Error",
    });
  });

  it("mounts a read-only bull-board at /queues for the analyses queue", async () => {
    const page = await api.app.inject({ url: "/queues" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    const queues = (await api.app.inject({ url: "/queues/api/queues" })).json();
    expect(
      queues.queues.map((q: { name: string; readOnlyMode: boolean }) => [q.name, q.readOnlyMode]),
    ).toEqual([[api.queue.name, true]]);
    const clean = await api.app.inject({
      method: "PUT",
      url: `/queues/api/queues/${encodeURIComponent(api.queue.name)}/clean/completed`,
    });
    expect(clean.statusCode).toBeGreaterThanOrEqual(400);
  });

  it("sums tokens and cost per UTC day for the dashboard", async () => {
    const response = await api.app.inject({ url: "/usage/daily?days=3" });
    expect(response.statusCode).toBe(200);
    const { days } = response.json();
    expect(days).toHaveLength(3);
    expect(days.at(-1)).toMatchObject({
      day: new Date().toISOString().slice(0, 10),
      analyses: 1,
      calls: 1,
      failed_calls: 1,
      input_tokens: 900,
      output_tokens: 40,
      thinking_tokens: 10,
      total_tokens: 940,
      cost_usd: 0.00037,
    });
    expect(days[0]).toMatchObject({ calls: 0, total_tokens: 0, cost_usd: 0 });
    expect((await api.app.inject({ url: "/usage/daily?days=0" })).statusCode).toBe(400);
  });

  it("serves the dashboard with a strict content security policy", async () => {
    const page = await api.app.inject({ url: "/" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.body).toContain('<script src="/dashboard.js" defer></script>');
    const script = await api.app.inject({ url: "/dashboard.js" });
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(script.body).not.toMatch(/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/);
  });
});

describe("when Postgres or Redis is away", () => {
  it("readyz answers 503 naming the one that failed, and errors carry no stack", async () => {
    // The queue's service away: Redis, or on the PostgreSQL backend a database that does not answer.
    const deadConfig = {
      ...api.config,
      redisUrl: "redis://127.0.0.1:1",
      databaseUrl: "postgres://postgres@127.0.0.1:1/x",
    };
    const deadBackend = openQueueBackend(deadConfig);
    const deadQueue = deadBackend.queue("producer");
    deadQueue.on("error", () => {});
    const noRedis = await buildApi({
      config: deadConfig,
      sql: api.db.sql,
      queueBackend: deadBackend,
      queue: deadQueue,
      logger,
    });
    const { createSql } = await import("../../src/store/database.js");
    const missingDb = createSql(`${api.db.url}_missing`, { max: 1 });
    const noPostgres = await buildApi({
      config: api.config,
      sql: missingDb,
      queueBackend: api.queueBackend,
      queue: api.queue,
      logger,
    });
    try {
      const a = await noRedis.inject({ url: "/readyz" });
      expect(a.statusCode).toBe(503);
      expect(a.json()).toMatchObject({ status: "not_ready", error: "not_ready", checks: { postgres: "ok" } });
      expect(a.json().message).toMatch(new RegExp(`^${queueCheck}: `));

      const b = await noPostgres.inject({ url: "/readyz" });
      expect(b.statusCode).toBe(503);
      expect(b.json()).toMatchObject({ checks: { [queueCheck]: "ok" } });
      expect(b.json().message).toBe(
        "postgres: the database does not exist: run `stock-ledger migrate` first",
      );

      const queued = await post(noRedis, { tickers: ["TCS"] });
      expect(queued.statusCode).toBe(503);
      expect(queued.json()).toEqual({
        error: "unavailable",
        message: `${deadBackend.service} at 127.0.0.1:1 is unreachable: ECONNREFUSED`,
      });

      const list = await noPostgres.inject({ url: "/analyses" });
      expect(list.statusCode).toBe(500);
      expect(list.json()).toEqual({ error: "internal", message: "internal error; see the server log" });
    } finally {
      await noRedis.close();
      await noPostgres.close();
      await deadQueue.close().catch(() => undefined);
      await deadBackend.close();
      await missingDb.end({ timeout: 1 });
    }
  });
});
