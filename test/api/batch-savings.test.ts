import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { foldAllPendingRollups } from "../../src/store/rollups-repo.js";
import { runCli } from "../helpers/cli.js";
import { BATCH_FIXTURE, insertBatchFixture } from "../store/batch-savings-fixture.js";
import { type ApiHarness, startApiHarness } from "./api-harness.js";

/**
 * What batch mode saved, through the API, the dashboard's endpoint and the CLI, over the
 * hand-summed ledger of test/store/batch-savings-fixture.ts.
 */

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness();
  await insertBatchFixture(api.db.sql, new Date(Date.now() - 120_000));
  await foldAllPendingRollups(api.db.sql);
});
afterAll(() => api?.close());

const cliEnv = () => ({
  DATABASE_URL: api.db.url,
  REDIS_URL: api.config.redisUrl,
  QUEUE_PREFIX: api.config.queuePrefix,
  QUEUE_BACKEND: api.config.queueBackend,
});

const get = async (url: string) => {
  const response = await api.app.inject({ url });
  expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
  return response;
};

describe("batch savings in the API", () => {
  it("GET /stats carries batch_saved_usd in totals and groups, as `stats --json` prints it", async () => {
    const body = (await get("/stats?by=ticker")).json();
    expect(body.totals).toMatchObject({ batch_saved_usd: 0.26095, cache_cost_saved_usd: 0.050615 });
    const byKey = Object.fromEntries(
      body.groups.map((g: { key: string; batch_saved_usd: number }) => [g.key, g.batch_saved_usd]),
    );
    expect(byKey).toEqual({ TCS: 0.2575, RELIANCE: 0.00345, INFY: 0, WIPRO: 0 });
    const cli = await runCli(["stats", "--by", "ticker", "--json"], cliEnv());
    expect(cli.stderr).toBe("");
    expect(JSON.parse(cli.stdout)).toEqual(body);
  });

  it("documents the field in the Stats schema", async () => {
    const doc = (await get("/openapi.json")).json();
    const group = doc.components.schemas.Stats.properties.totals;
    expect(group.properties.batch_saved_usd).toMatchObject({ type: "number" });
    expect(group.required).toContain("batch_saved_usd");
  });

  it("GET /usage/daily (the dashboard) adds batch savings per day and per ticker", async () => {
    const { days, tickers } = (await get("/usage/daily?days=1")).json();
    expect(days[0]).toMatchObject({ batch_saved_usd: 0.26095, cache_cost_saved_usd: 0.050615 });
    expect(
      tickers.map((t: { ticker: string; batch_saved_usd: number }) => [t.ticker, t.batch_saved_usd]),
    ).toEqual([
      ["TCS", 0.2575],
      ["RELIANCE", 0.00345],
      ["INFY", 0],
    ]);
  });

  it("GET /analyses/:id shows the analysis' saving and each call's, and the summary prints it", async () => {
    const body = (await get(`/analyses/${BATCH_FIXTURE.reliance}`)).json();
    expect(body.batch_saved_usd).toBe(0.00345);
    expect(
      body.calls.map(
        (c: { call_type: string; attempt: number; service_tier: string; batch_saved_usd: number | null }) => [
          c.call_type,
          c.attempt,
          c.service_tier,
          c.batch_saved_usd,
        ],
      ),
    ).toEqual([
      ["comprehensive_overview", 1, "batch", 0.002775],
      ["final_decision", 1, "batch", 0.000675],
      ["indicator_summary", 1, "batch", 0],
      ["indicator_summary", 2, "standard", null],
    ]);
    const summary = (await get(`/analyses/${BATCH_FIXTURE.reliance}/summary`)).body;
    expect(summary).toContain("  Cost Saved by Batch Mode: $0.003450\n");
  });

  it("`stats --wide` prints a BATCH SAVED column", async () => {
    const cli = await runCli(["stats", "--by", "ticker", "--wide"], cliEnv());
    expect(cli.stderr).toBe("");
    const lines = cli.stdout.split("\n");
    const header = lines.find((l) => l.startsWith("TICKER")) ?? "";
    expect(header).toMatch(/CACHE SAVED\s+BATCH SAVED$/);
    expect(lines.find((l) => l.startsWith("TCS"))).toMatch(/\$0\.257500$/);
    expect(lines.find((l) => l.startsWith("TOTAL"))).toMatch(/\$0\.260950$/);
  });
});
