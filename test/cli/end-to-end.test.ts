import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RequestLogEntry } from "../../src/llm/emulator/index.js";
import { freePort, runCli, startCli } from "../helpers/cli.js";
import { billedByServer, expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import {
  createTestDatabase,
  DATABASE_POOLING,
  dropQueueKeys,
  QUEUE_BACKEND,
  type TestDatabase,
  uniqueName,
} from "../helpers/services.js";

let db: TestDatabase;
let env: Record<string, string>;
let emulatorUrl: string;
const prefix = uniqueName("sl-test-e2e");
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const port = await freePort();
  emulatorUrl = `http://127.0.0.1:${port}`;
  const emulator = await startCli(["emulator", "--port", String(port)], {}, /listening on/);
  stops.push(() => emulator.stop());
  // A separate Gemini-protocol server, reached through GEMINI_BASE_URL + GEMINI_API_KEY like real Gemini.
  env = {
    DATABASE_URL: db.url,
    QUEUE_PREFIX: prefix,
    QUEUE_BACKEND,
    DATABASE_POOLING,
    GEMINI_BASE_URL: `${emulatorUrl}/`,
    GEMINI_API_KEY: "test-key",
  };
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await db.drop();
  await dropQueueKeys(prefix);
});

async function serverLog(): Promise<RequestLogEntry[]> {
  const response = await fetch(`${emulatorUrl}/_emulator/log`);
  return ((await response.json()) as { entries: RequestLogEntry[] }).entries;
}

describe("stock-ledger as a user runs it", () => {
  let ids: string[] = [];

  it("migrates, runs a worker, and analyze --wait --json ends with exit 0", async () => {
    const migrated = await runCli(["migrate"], env);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(/up to date|applied/);

    const worker = await startCli(["worker", "--concurrency", "4"], env, /worker ready/);
    stops.push(async () => {
      const code = await worker.stop("SIGTERM");
      expect(code).toBe(0);
      expect(worker.output()).toMatch(/"liveTrackers":0.*worker stopped/);
    });

    const result = await runCli(["analyze", "reliance", "TCS.NS", "--wait", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout) as { analyses: { id: string; ticker: string; status: string }[] };
    expect(body.analyses.map((a) => [a.ticker, a.status])).toEqual([
      ["RELIANCE", "completed"],
      ["TCS.NS", "completed"],
    ]);
    ids = body.analyses.map((a) => a.id);
  });

  it("stores totals equal to the usageMetadata the server returned", async () => {
    const log = await serverLog();
    for (const id of ids) {
      const sums = await expectTotalsMatchCalls(db.sql, id);
      const billed = billedByServer(log, id);
      expect(billed.requests).toBe(6);
      expect(sums).toMatchObject({
        input: billed.input,
        output: billed.output,
        thinking: billed.thinking,
        cached: billed.cached,
        total: billed.total,
      });
    }
  });

  it("prints the summary in the seed's format", async () => {
    const result = await runCli(["summary", ids[0] ?? ""], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "📊 Token Usage Summary for RELIANCE",
      "=".repeat(50),
      `Analysis ID: ${ids[0]}`,
      "Status: completed",
      "Model: gemini-2.5-flash",
    ]);
    expect(result.stdout).toMatch(
      /Total LLM Calls: 6\nSuccessful Calls: 6\nFailed Calls: 0\n\nToken Usage:\n {2}Input Tokens: [\d,]+\n/,
    );
    expect(result.stdout).toMatch(/Breakdown by Call Type:\n {2}indicator_summary:\n {4}Calls: 1\n/);
    expect(result.stdout).toMatch(/ {2}Cost: \$\d+\.\d{6}\n/);
  });

  it("show --json prints the row with its calls, list --json filters", async () => {
    const shown = await runCli(["show", ids[1] ?? "", "--json"], env);
    expect(shown.code).toBe(0);
    const row = JSON.parse(shown.stdout);
    expect(row).toMatchObject({ id: ids[1], ticker: "TCS.NS", status: "completed", llm_calls_count: 6 });
    expect(row.calls).toHaveLength(6);
    expect(row.calls[0]).toHaveProperty("raw_usage.promptTokenCount");
    expect(typeof row.cost_usd).toBe("number");

    const listed = await runCli(["list", "--ticker", "tcs.ns", "--json"], env);
    const analyses = JSON.parse(listed.stdout).analyses as { id: string }[];
    expect(analyses.map((a) => a.id)).toEqual([ids[1]]);
  });

  it("analyze --id is idempotent", async () => {
    const id = uniqueName("client").replaceAll("_", "-");
    const first = await runCli(["analyze", "INFY", "--id", id, "--wait", "--json"], env);
    const second = await runCli(["analyze", "INFY", "--id", id, "--json"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ analyses: [{ id, ticker: "INFY" }] });
    const clash = await runCli(["analyze", "TCS", "--id", id], env);
    expect(clash.code).toBe(2);
    expect(clash.stderr.trim()).toBe(`stock-ledger: analysis id ${id} already exists for ticker INFY`);
    expect(billedByServer(await serverLog(), id).requests).toBe(6);
  });

  it("analyze --wait exits 1 when an analysis fails", async () => {
    const result = await runCli(["analyze", "NOSUCHCO", "--wait"], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Status: failed[\s\S]*Error: no market data for NOSUCHCO/);
    expect(result.stderr).toMatch(/not every analysis completed/);
  });
});

describe("npm run demo", () => {
  it("prints three summaries and exits 0", async () => {
    const result = await runCli(["demo"], {
      DATABASE_URL: db.url,
      QUEUE_PREFIX: uniqueName("sl-test-demo"),
      QUEUE_BACKEND,
      DATABASE_POOLING,
    });
    expect(result.code, result.stderr).toBe(0);
    const headers = result.stdout.match(/^📊 Token Usage Summary for \S+$/gm);
    expect(headers).toEqual([
      "📊 Token Usage Summary for RELIANCE",
      "📊 Token Usage Summary for TCS",
      "📊 Token Usage Summary for INFY",
    ]);
    expect(result.stdout.match(/^Status: completed$/gm)).toHaveLength(3);
  });
});

describe("analyze --estimate", () => {
  it("counts each stage's prompt with countTokens and writes nothing", async () => {
    const before = await db.sql`SELECT count(*)::int AS n FROM stock_analyses`;
    const logBefore = (await serverLog()).length;
    const result = await runCli(["analyze", "HDFCBANK", "--estimate", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const [estimate] = JSON.parse(result.stdout).estimates;
    expect(estimate.stages.map((s: { call_type: string }) => s.call_type)).toEqual([
      "indicator_summary",
      "comprehensive_overview",
      "volume_analysis",
      "reversal_patterns",
      "continuation_levels",
      "final_decision",
    ]);
    const requests = (await serverLog()).slice(logBefore);
    expect(requests.map((e) => e.method)).toEqual(Array(6).fill("countTokens"));
    expect(Number(estimate.cost_usd)).toBeGreaterThan(0);
    expect(estimate.cost_usd).toMatch(/^\d+\.\d+$/); // exact decimal, not a float
    const after = await db.sql`SELECT count(*)::int AS n FROM stock_analyses`;
    expect(after[0]?.n).toBe(before[0]?.n);
  });
});

describe("analyze --reuse", () => {
  it("a second analysis of unchanged data makes no generateContent request and reports the saving", async () => {
    const first = await runCli(["analyze", "AAPL", "--wait", "--json"], env);
    expect(first.code, first.stderr).toBe(0);
    const logBefore = (await serverLog()).length;
    const second = await runCli(["analyze", "AAPL", "--reuse", "--wait"], env);
    expect(second.code, second.stderr).toBe(0);
    const requests = (await serverLog()).slice(logBefore).filter((e) => e.method === "generateContent");
    expect(requests).toEqual([]);
    expect(second.stdout).toMatch(/Status: completed\n/);
    expect(second.stdout).toMatch(/Total LLM Calls: 0\n/);
    expect(second.stdout).toMatch(
      / {2}Tokens Saved by Reuse: [1-9][\d,]*\n {2}Cost Saved by Reuse: \$0\.\d{6}\n/,
    );
  });
});
