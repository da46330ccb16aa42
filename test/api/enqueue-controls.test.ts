import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../../src/api/server.js";
import { PRICE_BOOK, usePriceBook } from "../../src/ledger/price-table.js";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { logger } from "../../src/logger.js";
import { openQueueBackend } from "../../src/queue/queue-backend.js";
import { freePort } from "../helpers/cli.js";
import { uniqueName } from "../helpers/services.js";
import { type ApiHarness, startApiHarness, startTestWorker, waitUntilEnded } from "./api-harness.js";

// POST /analyses takes `analyze`'s controls: validated as the CLI validates its flags, stored
// on the row, refused (400) or unavailable (503) before anything is written.

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  usePriceBook(PRICE_BOOK);
  await api?.close();
});

const post = (app: FastifyInstance, payload: unknown) =>
  app.inject({ method: "POST", url: "/analyses", payload: payload as object });

async function countRows(): Promise<number> {
  const [row] = await api.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stock_analyses`;
  return row?.n ?? -1;
}

async function countJobs(): Promise<number> {
  const counts = await api.queue.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** Posts one ticker with `fields` and returns the stored row as GET /analyses/:id answers it. */
async function enqueueOne(app: FastifyInstance, fields: Record<string, unknown>) {
  const response = await post(app, { tickers: ["TCS"], ...fields });
  expect(response.statusCode, response.body).toBe(202);
  const id = response.json().analyses[0].id as string;
  const shown = await api.app.inject({ url: `/analyses/${id}` });
  expect(shown.statusCode).toBe(200);
  return shown.json() as Record<string, unknown>;
}

describe("POST /analyses stores analyze's controls", () => {
  it("stores max_tokens, max_cost_usd, reuse and context_cache; GET /analyses/:id returns them", async () => {
    const row = await enqueueOne(api.app, {
      max_tokens: 20000,
      max_cost_usd: "0.05",
      reuse: true,
      context_cache: true,
      allow_partial: true,
    });
    expect(row).toMatchObject({ status: "queued", max_tokens: 20000, reuse: true, context_cache: true });
    expect(Number(row.max_cost_usd)).toBe(0.05);
    const [stored] = await api.db.sql`
      SELECT max_tokens::text, max_cost_usd::text, reuse, context_cache FROM stock_analyses WHERE id = ${row.id as string}`;
    expect(stored).toEqual({
      max_tokens: "20000",
      max_cost_usd: "0.050000000000",
      reuse: true,
      context_cache: true,
    });
  });

  it("stores batch and batch_fallback; GET /analyses/:id returns them", async () => {
    const row = await enqueueOne(api.app, { batch: true, batch_fallback: "sync" });
    expect(row).toMatchObject({ status: "queued", batch: true, batch_fallback: "sync" });
    expect(await enqueueOne(api.app, { batch: true })).toMatchObject({ batch: true, batch_fallback: "none" });
    expect(await enqueueOne(api.app, {})).toMatchObject({ batch: false, batch_fallback: "none" });
  });

  it("takes max_cost_usd as a JSON number too, and an exact amount with 6 decimals", async () => {
    expect(Number((await enqueueOne(api.app, { max_cost_usd: 0.125 })).max_cost_usd)).toBe(0.125);
    const [stored] = await api.db.sql`
      SELECT max_cost_usd::text FROM stock_analyses
      WHERE id = ${(await enqueueOne(api.app, { max_cost_usd: "12.000001" })).id as string}`;
    expect(stored).toEqual({ max_cost_usd: "12.000001000000" });
  });

  it("defaults: no limits, reuse as REUSE_BY_DEFAULT, no context cache", async () => {
    expect(await enqueueOne(api.app, {})).toMatchObject({
      max_tokens: null,
      max_cost_usd: null,
      reuse: false,
      context_cache: false,
    });
    const reusing = await buildApi({
      config: { ...api.config, reuse: { ...api.config.reuse, byDefault: true } },
      sql: api.db.sql,
      queueBackend: api.queueBackend,
      queue: api.queue,
      logger,
    });
    try {
      expect(await enqueueOne(reusing, {})).toMatchObject({ reuse: true, context_cache: false });
      expect(await enqueueOne(reusing, { reuse: false })).toMatchObject({ reuse: false });
    } finally {
      await reusing.close();
    }
  });

  it("runs a model the price book lacks only with allow_unpriced", async () => {
    const row = await enqueueOne(api.app, { model: "gpt-4", allow_unpriced: true });
    expect(row).toMatchObject({ model: "gpt-4", status: "queued" });
    expect((await api.queue.getJob(row.id as string))?.data).toMatchObject({ model: "gpt-4" });
  });
});

describe("POST /analyses refuses bad controls with 400, writing and queuing nothing", () => {
  const WHOLE = "must be a whole number of at least 1";
  const USD = "must be a USD amount above 0 such as 0.05";
  it.each([
    [{ max_tokens: 0 }, `invalid max_tokens 0: ${WHOLE}`],
    [{ max_tokens: -1 }, `invalid max_tokens -1: ${WHOLE}`],
    [{ max_tokens: 1.5 }, `invalid max_tokens 1.5: ${WHOLE}`],
    [{ max_tokens: "abc" }, `invalid max_tokens "abc": ${WHOLE}`],
    [{ max_tokens: 1e21 }, `invalid max_tokens 1e+21: ${WHOLE}`],
    [{ max_tokens: "100" }, 'invalid max_tokens "100": must be a JSON number'],
    [{ max_cost_usd: "0" }, `invalid max_cost_usd "0": ${USD}`],
    [{ max_cost_usd: "-1" }, `invalid max_cost_usd "-1": ${USD}`],
    [{ max_cost_usd: "1e3" }, `invalid max_cost_usd "1e3": ${USD}`],
    [{ max_cost_usd: "abc" }, `invalid max_cost_usd "abc": ${USD}`],
    [{ max_cost_usd: "0.1234567" }, `invalid max_cost_usd "0.1234567": ${USD}`],
    [{ max_cost_usd: 0 }, `invalid max_cost_usd 0: ${USD}`],
    [{ max_cost_usd: -1 }, `invalid max_cost_usd -1: ${USD}`],
    [{ max_cost_usd: 1e-7 }, `invalid max_cost_usd 1e-7: ${USD}`],
    [{ max_cost_usd: true }, `invalid max_cost_usd true: ${USD}`],
    [{ reuse: "yes" }, 'invalid reuse "yes": must be true or false'],
    [{ context_cache: 1 }, "invalid context_cache 1: must be true or false"],
    [{ allow_partial: "true" }, 'invalid allow_partial "true": must be true or false'],
    [{ allow_unpriced: null }, "invalid allow_unpriced null: must be true or false"],
    [{ batch: "yes" }, 'invalid batch "yes": must be true or false'],
    [{ batch: true, batch_fallback: "retry" }, 'invalid batch_fallback "retry": must be sync or none'],
    [{ batch_fallback: "sync" }, "batch_fallback needs batch"],
    [
      { batch: true, context_cache: true },
      "context_cache cannot be combined with batch: a cache may lapse before the batch runs",
    ],
    [{ max_cost: "1" }, 'unknown field "max_cost"'],
    [{ maxTokens: 100 }, 'unknown field "maxTokens"'],
    [
      { model: "gpt-4" },
      /^unknown model gpt-4: no price known \(known: [^)]*gemini-2\.5-flash[^)]*\); pass allow_unpriced to run it unpriced$/,
    ],
    [{ model: "gpt-4", allow_unpriced: false }, /^unknown model gpt-4: .*pass allow_unpriced/],
    // Priced only once a PRICE_BOOK_FILE adds it (below).
    [{ model: "acme-lm-1" }, /^unknown model acme-lm-1: /],
  ])("%j → 400 naming the field", async (fields, message) => {
    const [rows, jobs] = [await countRows(), await countJobs()];
    const response = await post(api.app, { tickers: ["TCS"], ...fields });
    expect(response.statusCode, response.body).toBe(400);
    const body = response.json();
    expect(Object.keys(body)).toEqual(["error", "message"]);
    expect(body.error).toBe("bad_request");
    if (typeof message === "string") expect(body.message).toBe(message);
    else expect(body.message).toMatch(message);
    expect(body.message).not.toContain("\n");
    expect(await countRows()).toBe(rows);
    expect(await countJobs()).toBe(jobs);
  });
});

describe("POST /analyses with a cap the analysis cannot fit", () => {
  it("is refused (400) with the estimate and the cap unless allow_partial, writing nothing", async () => {
    const [rows, jobs] = [await countRows(), await countJobs()];
    const refused = await post(api.app, { tickers: ["TCS"], max_tokens: 100 });
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json().message).toMatch(
      /^TCS: the estimate is [\d,]+ tokens \(\$0\.\d{6}\), more than max_tokens 100; raise the cap, or pass allow_partial to run the stages that fit$/,
    );
    const byCost = await post(api.app, { tickers: ["TCS"], max_cost_usd: "0.0001" });
    expect(byCost.statusCode, byCost.body).toBe(400);
    expect(byCost.json().message).toMatch(/more than max_cost_usd 0\.0001;/);
    expect([await countRows(), await countJobs()]).toEqual([rows, jobs]);
    const partial = await post(api.app, { tickers: ["TCS"], max_tokens: 100, allow_partial: true });
    expect(partial.statusCode, partial.body).toBe(202);
    const roomy = await post(api.app, { tickers: ["TCS"], max_tokens: 50_000 });
    expect(roomy.statusCode, roomy.body).toBe(202);
  });
});

describe("POST /analyses and the daily budget", () => {
  it("answers 429 once today's budget is spent (DAILY_BUDGET_EXCEEDED=refuse), writing nothing", async () => {
    // A budget of one token is spent by the first call recorded today.
    const id = (await enqueueOne(api.app, {})).id as string;
    await api.db.sql`INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens,
      output_tokens, total_tokens, usage_source, started_at, input_chars, output_chars)
      VALUES (${id}, 'indicator_summary', 1, 'gemini-2.5-flash', 'success', 5, 0, 5, 'provider', now(), 20, 0)`;
    const capped = await buildApi({
      config: { ...api.config, budget: { ...api.config.budget, dailyTokens: 1 } },
      sql: api.db.sql,
      queueBackend: api.queueBackend,
      queue: api.queue,
      logger,
    });
    try {
      const [rows, jobs] = [await countRows(), await countJobs()];
      const response = await post(capped, { tickers: ["INFY"] });
      expect(response.statusCode).toBe(429);
      expect(response.json()).toMatchObject({ error: "budget_exhausted" });
      expect(response.json().message).toMatch(/^daily budget reached: 5 of 1 tokens used today/);
      expect([await countRows(), await countJobs()]).toEqual([rows, jobs]);
    } finally {
      await capped.close();
    }
  });
});

describe("POST /analyses with Redis unreachable", () => {
  /** The API as `serve` builds it, with REDIS_URL pointing at `redisUrl`. */
  async function apiOn(redisUrl: string) {
    const config = {
      ...api.config,
      queueBackend: "redis" as const,
      redisUrl,
      queuePrefix: uniqueName("sl-test-noredis"),
    };
    const queueBackend = openQueueBackend(config);
    const queue = queueBackend.queue("producer");
    queue.on("error", () => {});
    const app = await buildApi({ config, sql: api.db.sql, queueBackend, queue, logger });
    return {
      app,
      async close() {
        await app.close();
        await queue.close().catch(() => undefined);
        await queueBackend.close();
      },
    };
  }

  async function expect503(app: FastifyInstance, message: RegExp) {
    const before = await countRows();
    const started = Date.now();
    const response = await post(app, { tickers: ["TCS", "INFY"], max_tokens: 1000, allow_partial: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(response.statusCode, response.body).toBe(503);
    expect(Object.keys(response.json())).toEqual(["error", "message"]);
    expect(response.json().error).toBe("unavailable");
    expect(response.json().message).toMatch(message);
    expect(await countRows()).toBe(before);
  }

  it("a closed port answers 503 naming Redis and its address, writing no row", async () => {
    const port = await freePort();
    const down = await apiOn(`redis://user:secret@127.0.0.1:${port}`);
    try {
      await expect503(
        down.app,
        new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} is unreachable: ECONNREFUSED$`),
      );
      // A request that is wrong anyway is refused as such first.
      const unpriced = await post(down.app, { tickers: ["TCS"], model: "gpt-4" });
      expect(unpriced.statusCode).toBe(400);
    } finally {
      await down.close();
    }
  });

  it("a Redis that accepts but never answers gets 503 within seconds", async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const down = await apiOn(`redis://127.0.0.1:${port}`);
    try {
      await expect503(
        down.app,
        new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} is unreachable: no answer within 2\\.5 s$`),
      );
    } finally {
      await down.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("the OpenAPI document", () => {
  it("documents every control and the 503", async () => {
    const doc = (await api.app.inject({ url: "/openapi.json" })).json();
    const post = doc.paths["/analyses"].post;
    const body = post.requestBody.content["application/json"].schema;
    expect(Object.keys(body.properties)).toEqual([
      "tickers",
      "model",
      "id",
      "max_tokens",
      "max_cost_usd",
      "reuse",
      "context_cache",
      "batch",
      "batch_fallback",
      "allow_partial",
      "allow_unpriced",
    ]);
    expect(body.additionalProperties).toBe(false);
    expect(body.properties.max_tokens).toMatchObject({ type: "integer", minimum: 1 });
    expect(body.properties.max_cost_usd.type).toEqual(["string", "number"]);
    expect(body.properties.batch_fallback.enum).toEqual(["none", "sync"]);
    for (const flag of ["reuse", "context_cache", "batch", "allow_partial", "allow_unpriced"]) {
      expect(body.properties[flag].type).toBe("boolean");
    }
    for (const [name, schema] of Object.entries(body.properties)) {
      if (name !== "tickers") expect((schema as { description?: string }).description, name).toBeTruthy();
    }
    expect(post.responses["503"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/Error",
    });
  });
});

describe("with PRICE_BOOK_FILE", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "sl-api-price-book-"));
  const version = `test-${uniqueName("api-book").replaceAll("_", "-")}`;
  let filed: ApiHarness;
  let emulator: EmulatorHandle;
  let acmeId = "";

  beforeAll(async () => {
    const file = path.join(dir, "book.json");
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    writeFileSync(
      file,
      JSON.stringify({
        versions: [
          {
            version,
            effectiveFrom: yesterday,
            models: {
              "gemini-2.5-flash": { input: "0.90", output: "7.50", cachedInput: "0.09" },
              "acme-lm-1": { input: "1", output: "2", cachedInput: "0.1" },
            },
          },
        ],
      }),
    );
    filed = await startApiHarness({ db: api.db, env: { PRICE_BOOK_FILE: file, CHARTS: "off" } });
    emulator = await startEmulator({ latencyMs: 0 });
  });
  afterAll(async () => {
    await filed?.close();
    await emulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the server knows a model the file adds", async () => {
    const row = await enqueueOne(filed.app, { model: "acme-lm-1" });
    expect(row).toMatchObject({ model: "acme-lm-1", status: "queued" });
    acmeId = row.id as string;
  });

  it("a worker installs the file itself and prices every call with the file's version", async () => {
    const response = await post(filed.app, { tickers: ["RELIANCE"] });
    expect(response.statusCode, response.body).toBe(202);
    const id = response.json().analyses[0].id as string;
    // As in a worker process of its own: nothing installed the file before the worker starts.
    usePriceBook(PRICE_BOOK);
    const worker = await startTestWorker(filed.config, emulator);
    try {
      await waitUntilEnded(filed, [id, acmeId]);
    } finally {
      await worker.close(5_000);
    }
    const row = (await filed.app.inject({ url: `/analyses/${id}` })).json();
    expect(row.status).toBe("completed");
    expect(row.calls.length).toBeGreaterThan(0);
    expect(new Set(row.calls.map((c: { price_version: string }) => c.price_version))).toEqual(
      new Set([version]),
    );
    const acme = (await filed.app.inject({ url: `/analyses/${acmeId}` })).json();
    expect(acme.calls.map((c: { price_version: string }) => c.price_version)).toContain(version);
  });
});
