import { parse as parseCsv } from "csv-parse/sync";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { buildApi } from "../../src/api/server.js";
import { logger } from "../../src/logger.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { recordBudgetAlert } from "../../src/store/budget-repo.js";
import { runCli } from "../helpers/cli.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { testConfig } from "../helpers/services.js";
import { type ApiHarness, startApiHarness } from "./api-harness.js";

/**
 * GET /stats, /export, /budget and the savings in /usage/daily, on analyses run through the
 * real pipeline (emulator, Postgres, rollups) so the CLI and the API read the same ledger.
 */

let h: PipelineHarness;
let api: ApiHarness;
let budgeted: FastifyInstance;
let original: AnalysisRow;
let reused: AnalysisRow;
const today = new Date().toISOString().slice(0, 10);

async function analyse(ticker: string, reuse: boolean): Promise<AnalysisRow> {
  const id = await h.queue(ticker);
  await h.db.sql`UPDATE stock_analyses SET reuse = ${reuse} WHERE id = ${id}`;
  return (await executeAnalysis(id, h.deps)) as AnalysisRow;
}

/** A call with cached input on an analysis of its own, priced by the given version and tier. */
async function insertCachedCall(row: {
  id: string;
  ticker: string;
  model: string;
  cached: number;
  version: string | null;
  tier: string | null;
}) {
  await h.db.sql`
    INSERT INTO stock_analyses (id, ticker, model, status) VALUES (${row.id}, ${row.ticker}, ${row.model}, 'completed')`;
  await h.db.sql`
    INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
                           cached_input_tokens, total_tokens, usage_source, started_at, duration_ms,
                           cost_usd, price_version, price_tier)
    VALUES (${row.id}, 'indicator_summary', 1, ${row.model}, 'success', ${row.cached + 100}, 50,
            ${row.cached}, ${row.cached + 150}, 'provider', now(), 100, 0.001, ${row.version}, ${row.tier})`;
}

const cliEnv = () => ({
  DATABASE_URL: h.db.url,
  REDIS_URL: api.config.redisUrl,
  QUEUE_PREFIX: api.config.queuePrefix,
  QUEUE_BACKEND: api.config.queueBackend,
});

beforeAll(async () => {
  h = await createPipelineHarness();
  api = await startApiHarness({ db: h.db, listen: true });
  budgeted = await buildApi({
    config: testConfig({
      DATABASE_URL: h.db.url,
      QUEUE_PREFIX: api.config.queuePrefix,
      DAILY_TOKEN_BUDGET: "100000",
      DAILY_COST_BUDGET_USD: "2.50",
      BUDGET_ALERT_THRESHOLD: "0.5",
    }),
    sql: h.db.sql,
    queueBackend: api.queueBackend,
    queue: api.queue,
    logger,
  });
  original = await analyse("RELIANCE", false);
  reused = await analyse("RELIANCE", true);
  await analyse("INFY", false);
}, 60_000);

afterAll(async () => {
  await budgeted?.close();
  await api?.close();
  await h?.close();
});

describe("GET /stats", () => {
  it.each([
    ["", []],
    ["?by=ticker", ["--by", "ticker"]],
    ["?range=today&by=model", ["--range", "today", "--by", "model"]],
    [`?since=${today}&until=${today}&by=day`, ["--since", today, "--until", today, "--by", "day"]],
  ])("answers %s exactly as `stats --json` prints it", async (query, args) => {
    const response = await api.app.inject({ url: `/stats${query}` });
    expect(response.statusCode).toBe(200);
    const cli = await runCli(["stats", ...args, "--json"], cliEnv());
    expect(cli.stderr).toBe("");
    expect(response.json()).toEqual(JSON.parse(cli.stdout));
  });

  it("counts the analyses that ran", async () => {
    const body = (await api.app.inject({ url: "/stats?by=ticker" })).json();
    expect(body.groups.map((g: { key: string }) => g.key).sort()).toEqual(["INFY", "RELIANCE"]);
    expect(body.totals.calls).toBeGreaterThanOrEqual(12);
    expect(body.totals.total_tokens).toBeGreaterThan(0);
  });

  it.each([
    ["by=week", 'invalid by "week"'],
    ["range=1y", 'invalid range "1y"'],
    ["range=7d&since=2025-01-01", "use either range or since/until, not both"],
    ["since=2025-02-30", 'invalid since "2025-02-30": stats counts whole UTC days, use YYYY-MM-DD'],
    ["until=March", 'invalid until "March"'],
    ["since=2025-03-02&until=2025-03-01", "invalid since/until: 2025-03-02 is after 2025-03-01"],
    ["day=today", 'unknown query parameter "day"'],
  ])(
    "refuses ?%s with 400 in the API's words (query parameters, never CLI flags)",
    async (query, message) => {
      const response = await api.app.inject({ url: `/stats?${query}` });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: "bad_request", message: expect.stringContaining(message) });
      expect(response.json().message).not.toContain("--");
    },
  );
});

describe("GET /export", () => {
  it.each([
    ["format=csv", ["--format", "csv"]],
    ["format=json", ["--format", "json"]],
    ["format=csv&what=calls&ticker=RELIANCE", ["--format", "csv", "--what", "calls", "--ticker", "RELIANCE"]],
    [
      `format=json&what=calls&status=success&since=${today}&until=${today}`,
      ["--format", "json", "--what", "calls", "--status", "success", "--since", today, "--until", today],
    ],
  ])("streams ?%s byte for byte as `export` writes it", async (query, args) => {
    const response = await fetch(`${api.url}/export?${query}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("transfer-encoding")).toBe("chunked");
    const body = await response.text();
    const cli = await runCli(["export", ...args], cliEnv());
    expect(cli.stderr).toBe("");
    expect(body).toBe(cli.stdout);
  });

  it("writes a CSV header row and one row per analysis", async () => {
    const response = await api.app.inject({ url: "/export?format=csv&ticker=RELIANCE" });
    expect(response.headers["content-type"]).toBe("text/csv; charset=utf-8");
    const [header, ...rows] = parseCsv(response.body) as string[][];
    expect(header).toEqual(expect.arrayContaining(["id", "ticker", "status", "cost_usd", "tokens_saved"]));
    expect(rows.map((r) => r[header?.indexOf("id") ?? -1]).sort()).toEqual([original.id, reused.id].sort());
  });

  it("writes NDJSON whose lines parse back to the calls", async () => {
    const response = await api.app.inject({ url: `/export?format=json&what=calls&ticker=INFY` });
    expect(response.headers["content-type"]).toBe("application/x-ndjson; charset=utf-8");
    const lines = response.body
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(6);
    const [count] = await h.db.sql<{ tokens: number }[]>`
      SELECT sum(c.total_tokens)::int AS tokens FROM llm_calls c JOIN stock_analyses a ON a.id = c.analysis_id
      WHERE a.ticker = 'INFY'`;
    expect(lines.reduce((sum, l) => sum + l.total_tokens, 0)).toBe(count?.tokens);
    expect(lines[0]).not.toHaveProperty("output");
  });

  it.each([
    ["", "missing query parameter format"],
    ["format=xml", 'invalid format "xml"'],
    ["format=csv&what=users", 'invalid what "users"'],
    ["format=csv&what=calls&status=completed", 'invalid status "completed": a call status is one of'],
    ["format=csv&status=done", 'invalid status "done"'],
    ["format=csv&since=yesterday", 'invalid since "yesterday"'],
    ["format=csv&ticker=%3Cscript%3E", 'invalid ticker "<script>"'],
    ["format=csv&since=2025-03-02&until=2025-03-01", "invalid range: since must be before until"],
  ])("refuses ?%s with 400 {error, message}", async (query, message) => {
    const response = await api.app.inject({ url: `/export?${query}` });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: "bad_request", message: expect.stringContaining(message) });
    expect(response.json().message).not.toContain("--");
  });
});

describe("GET /usage/daily savings", () => {
  beforeAll(async () => {
    await insertCachedCall({
      id: "cache-flash",
      ticker: "TCS",
      model: "gemini-2.5-flash",
      cached: 10_000,
      version: "gemini-2025-12",
      tier: "standard",
    });
    await insertCachedCall({
      id: "cache-pro-long",
      ticker: "TCS",
      model: "gemini-2.5-pro",
      cached: 1_000,
      version: "gemini-2025-12",
      tier: "long_context",
    });
    await insertCachedCall({
      id: "cache-unknown",
      ticker: "WIPRO",
      model: "mystery-model",
      cached: 500,
      version: null,
      tier: null,
    });
  });

  it("shows tokens and cost saved by reuse and by caching, per day and per ticker", async () => {
    const response = await api.app.inject({ url: "/usage/daily?days=2" });
    expect(response.statusCode).toBe(200);
    const { days, tickers } = response.json();
    expect(days.map((d: { day: string }) => d.day).at(-1)).toBe(today);
    expect(days[0]).toMatchObject({
      reuse_tokens_saved: 0,
      reuse_cost_saved_usd: 0,
      cache_cost_saved_usd: 0,
    });

    // Reuse: the second RELIANCE analysis saved what the first one cost.
    expect(reused.tokens_saved).toBe(original.total_tokens);
    const todayRow = days.at(-1);
    expect(todayRow.reuse_tokens_saved).toBe(original.total_tokens);
    expect(todayRow.reuse_cost_saved_usd).toBe(Number(original.cost_usd));
    const byTicker = Object.fromEntries(tickers.map((t: { ticker: string }) => [t.ticker, t]));
    expect(byTicker.RELIANCE).toMatchObject({
      reuse_tokens_saved: original.total_tokens,
      reuse_cost_saved_usd: Number(original.cost_usd),
    });

    // Caching, by hand: flash 10,000 × ($0.30 − $0.03)/1M = $0.0027;
    // 2.5 Pro long context 1,000 × ($2.50 − $0.25)/1M = $0.00225; an unknown model saves nothing known.
    expect(byTicker.TCS).toMatchObject({
      reuse_tokens_saved: 0,
      reuse_cost_saved_usd: 0,
      cached_input_tokens: 11_000,
      cache_cost_saved_usd: 0.00495,
    });
    expect(byTicker.WIPRO).toMatchObject({ cached_input_tokens: 500, cache_cost_saved_usd: 0 });
    // The day's caching saving is the sum over tickers (the emulator may have cached some too).
    const cacheSum = tickers.reduce(
      (s: number, t: { cache_cost_saved_usd: number }) => s + t.cache_cost_saved_usd,
      0,
    );
    expect(todayRow.cache_cost_saved_usd).toBeCloseTo(cacheSum, 12);
    expect(todayRow.cached_input_tokens).toBe(
      tickers.reduce((s: number, t: { cached_input_tokens: number }) => s + t.cached_input_tokens, 0),
    );
  });
});

describe("GET /budget", () => {
  it("shows today's spend with no budget configured", async () => {
    const response = await api.app.inject({ url: "/budget" });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    const usage = (await api.app.inject({ url: "/usage/daily?days=1" })).json().days[0];
    expect(body).toEqual({
      day: today,
      tokens: { spent: usage.total_tokens, budget: null, fraction: null },
      cost_usd: { spent: usage.cost_usd, budget: null, fraction: null },
      alert_threshold: 0.8,
      when_exceeded: "refuse",
      alerts: [],
      resets_at: `${new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString()}`,
    });
    expect(body.tokens.spent).toBeGreaterThan(0);
  });

  it("shows spend against DAILY_TOKEN_BUDGET and DAILY_COST_BUDGET_USD, and today's alerts", async () => {
    const before = (await budgeted.inject({ url: "/budget" })).json();
    const spent = before.tokens.spent;
    // Fractions are rounded down to 6 decimals, as the budget check computes them.
    expect(before.tokens).toEqual({ spent, budget: 100_000, fraction: Math.floor(spent * 10) / 1e6 });
    expect(before.cost_usd.budget).toBe(2.5);
    const costFraction = before.cost_usd.spent / 2.5;
    expect(before.cost_usd.fraction).toBeLessThanOrEqual(costFraction);
    expect(before.cost_usd.fraction).toBeGreaterThan(costFraction - 1e-6);
    expect(before.alert_threshold).toBe(0.5);
    expect(before.alerts).toEqual([]);

    await recordBudgetAlert(h.db.sql, { kind: "tokens", threshold: 0.5, spent: "60000", budget: "100000" });
    const after = (await budgeted.inject({ url: "/budget" })).json();
    expect(after.alerts).toEqual([
      { kind: "tokens", threshold: 0.5, spent: 60_000, budget: 100_000, created_at: expect.any(String) },
    ]);
  });
});
