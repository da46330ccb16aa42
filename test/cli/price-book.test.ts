import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPriceBook } from "../../src/config/price-book-file.js";
import { picoToUsd } from "../../src/ledger/money.js";
import { PRICE_BOOK } from "../../src/ledger/price-table.js";
import { priceCall } from "../../src/ledger/pricing.js";
import { usageFromMetadata } from "../../src/ledger/usage.js";
import { runCli, startCli } from "../helpers/cli.js";
import {
  countQueueKeys,
  createTestDatabase,
  dropQueueKeys,
  openTestQueue,
  QUEUE_BACKEND,
  REDIS_URL,
  type TestDatabase,
  testConfig,
  uniqueName,
} from "../helpers/services.js";

// PRICE_BOOK_FILE and the enqueue-time model check, as a user meets them on the command line.

let db: TestDatabase;
let env: Record<string, string>;
const prefix = uniqueName("sl-test-pricebook");
const dir = mkdtempSync(path.join(tmpdir(), "sl-price-book-"));

// In force since yesterday: after every shipped version, so it is the rate calls get today.
const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
const VERSION = `test-${uniqueName("book").replaceAll("_", "-")}`;
// Three times the shipped gemini-2.5-flash rates, and a model the shipped book lacks.
const goodBook = {
  versions: [
    {
      version: VERSION,
      effectiveFrom: yesterday,
      models: {
        "gemini-2.5-flash": { input: "0.90", output: "7.50", cachedInput: "0.09" },
        "acme-lm-1": { input: "1", output: "2", cachedInput: "0.1" },
      },
    },
  ],
};

function writeBook(name: string, content: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

let goodFile: string;
let badFile: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // CHARTS off: the worker run below is about prices, not pictures.
  env = { DATABASE_URL: db.url, QUEUE_PREFIX: prefix, REDIS_URL, QUEUE_BACKEND, CHARTS: "off" };
  goodFile = writeBook("good.json", goodBook);
  badFile = writeBook("bad.json", {
    versions: [
      {
        ...goodBook.versions[0],
        models: { "gemini-2.5-flash": { input: "abc", output: "1", cachedInput: "0" } },
      },
    ],
  });
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await db.drop();
  await dropQueueKeys(prefix);
});

const rowCount = async () => Number((await db.sql`SELECT count(*)::int AS n FROM stock_analyses`)[0]?.n);

async function expectOneLine(args: string[], extraEnv: Record<string, string>, line: RegExp) {
  const result = await runCli(args, { ...env, ...extraEnv }, 30_000);
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2);
  const lines = result.stderr.trim().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(line);
  expect(result.stdout).toBe("");
}

describe("analyze refuses a model the price book cannot price", () => {
  it("exits 2 with one line listing the known models, writing no row and queuing no job", async () => {
    const unknown =
      /^stock-ledger: unknown model gpt-4: no price known \(known: [^)]*gemini-2\.5-flash[^)]*\); pass --allow-unpriced to run it unpriced$/;
    await expectOneLine(["analyze", "TCS", "--model", "gpt-4"], {}, unknown);
    await expectOneLine(["analyze", "TCS", "INFY", "--model", "gpt-4", "--wait", "--json"], {}, unknown);
    await expectOneLine(["analyze", "TCS", "--model", "gpt-4", "--estimate", "--json"], {}, unknown);
    // GEMINI_MODEL is the model too when --model is not given.
    await expectOneLine(["analyze", "TCS"], { GEMINI_MODEL: "gpt-4" }, unknown);
    expect(await rowCount()).toBe(0);
    expect(await countQueueKeys(env)).toBe(0);
  });

  it("queues it with --allow-unpriced (and takes --allow-partial)", async () => {
    const result = await runCli(
      ["analyze", "TCS", "--model", "gpt-4", "--allow-unpriced", "--allow-partial", "--json"],
      env,
    );
    expect(result.code, result.stderr).toBe(0);
    const [analysis] = JSON.parse(result.stdout).analyses as { id: string; ticker: string }[];
    const rows =
      await db.sql`SELECT ticker, model, status FROM stock_analyses WHERE id = ${analysis?.id ?? ""}`;
    expect(rows).toEqual([{ ticker: "TCS", model: "gpt-4", status: "queued" }]);
    const { queue, close } = openTestQueue(testConfig(env));
    try {
      expect((await queue.getJob(analysis?.id ?? ""))?.data).toMatchObject({ ticker: "TCS", model: "gpt-4" });
    } finally {
      await close();
    }
  });

  it("knows a model that PRICE_BOOK_FILE adds", async () => {
    const refused = await runCli(["analyze", "TCS", "--model", "acme-lm-1"], env);
    expect(refused.code).toBe(2);
    const result = await runCli(["analyze", "TCS", "--model", "acme-lm-1", "--json"], {
      ...env,
      PRICE_BOOK_FILE: goodFile,
    });
    expect(result.code, result.stderr).toBe(0);
    const [analysis] = JSON.parse(result.stdout).analyses as { id: string }[];
    const rows = await db.sql`SELECT model FROM stock_analyses WHERE id = ${analysis?.id ?? ""}`;
    expect(rows).toEqual([{ model: "acme-lm-1" }]);
  });
});

describe("a bad PRICE_BOOK_FILE stops every command", () => {
  it("exits 2 with one line naming the file and the entry, for analyze, list and worker", async () => {
    const before = await rowCount();
    const line = new RegExp(
      `^stock-ledger: PRICE_BOOK_FILE ${badFile.replaceAll(".", "\\.")}: ` +
        "versions\\[0\\]\\.models\\.gemini-2\\.5-flash\\.input: expected a decimal string of USD per 1M tokens$",
    );
    for (const args of [["analyze", "TCS"], ["list", "--json"], ["worker"], ["serve", "--port", "0"]]) {
      await expectOneLine(args, { PRICE_BOOK_FILE: badFile }, line);
    }
    expect(await rowCount()).toBe(before);
  });

  it("exits 2 when the file is missing", async () => {
    const missing = path.join(dir, "missing.json");
    await expectOneLine(
      ["analyze", "TCS", "--json"],
      { PRICE_BOOK_FILE: missing },
      new RegExp(`^stock-ledger: PRICE_BOOK_FILE ${missing.replaceAll(".", "\\.")}: no such file$`),
    );
  });
});

describe("a good PRICE_BOOK_FILE prices with the file's rates", () => {
  it("analyze --estimate costs each stage at the file's rate", async () => {
    const estimate = async (extraEnv: Record<string, string>) => {
      const result = await runCli(["analyze", "TCS", "--estimate", "--json"], { ...env, ...extraEnv });
      expect(result.code, result.stderr).toBe(0);
      const [e] = JSON.parse(result.stdout).estimates as {
        // A number, or an exact decimal string: compared as numbers either way.
        cost_usd: number | string;
        stages: { call_type: string; input_tokens: number; cost_usd: number | string }[];
      }[];
      return e;
    };
    const shipped = await estimate({});
    const filed = await estimate({ PRICE_BOOK_FILE: goodFile });
    expect(filed?.stages.map((s) => s.input_tokens)).toEqual(shipped?.stages.map((s) => s.input_tokens));
    // Every rate is three times the shipped one.
    for (const [i, stage] of (filed?.stages ?? []).entries()) {
      expect(Number(stage.cost_usd)).toBeCloseTo(3 * Number(shipped?.stages[i]?.cost_usd ?? Number.NaN), 12);
    }
    expect(Number(filed?.cost_usd)).toBeGreaterThan(0);
  });

  it("a worker records the file's version and rates on every call and syncs its cache rates", async () => {
    // Its own queue prefix: the gpt-4 job queued above is not this worker's to run.
    const workerEnv = { ...env, QUEUE_PREFIX: uniqueName("sl-test-pricebook-w"), PRICE_BOOK_FILE: goodFile };
    const worker = await startCli(["worker", "--concurrency", "2"], workerEnv, /worker ready/);
    try {
      const synced = await db.sql<{ model: string; tier: string }[]>`
        SELECT model, tier FROM stats_cache_rates WHERE version = ${VERSION} ORDER BY model, tier`;
      expect(synced.map((r) => `${r.model}/${r.tier}`)).toEqual([
        "acme-lm-1/batch",
        "acme-lm-1/batch_long_context",
        "acme-lm-1/long_context",
        "acme-lm-1/standard",
        "gemini-2.5-flash/batch",
        "gemini-2.5-flash/batch_long_context",
        "gemini-2.5-flash/long_context",
        "gemini-2.5-flash/standard",
      ]);

      const run = await runCli(["analyze", "TCS", "--wait", "--json"], workerEnv);
      expect(run.code, run.stderr).toBe(0);
      const id = (JSON.parse(run.stdout).analyses as { id: string }[])[0]?.id ?? "";
      const shown = await runCli(["show", id, "--json"], workerEnv);
      expect(shown.code, shown.stderr).toBe(0);
      const row = JSON.parse(shown.stdout) as {
        status: string;
        cost_usd: number;
        calls: {
          model: string;
          status: string;
          price_version: string;
          cost_usd: number;
          started_at: string;
          raw_usage: Parameters<typeof usageFromMetadata>[0];
        }[];
      };
      expect(row.status).toBe("completed");
      expect(row.calls.length).toBeGreaterThan(0);
      const merged = loadPriceBook(goodFile);
      let total = 0;
      for (const call of row.calls) {
        expect(call.price_version).toBe(VERSION);
        const usage = usageFromMetadata(call.raw_usage);
        const at = new Date(call.started_at);
        const filed = picoToUsd(priceCall(call.model, usage, at, merged).costPico ?? -1n);
        const shipped = picoToUsd(priceCall(call.model, usage, at, PRICE_BOOK).costPico ?? -1n);
        expect(call.cost_usd).toBeCloseTo(Number(filed), 9);
        expect(call.cost_usd).not.toBeCloseTo(Number(shipped), 9);
        total += Number(filed);
      }
      expect(row.cost_usd).toBeCloseTo(total, 9);
    } finally {
      expect(await worker.stop("SIGTERM")).toBe(0);
      await dropQueueKeys(workerEnv.QUEUE_PREFIX);
    }
  }, 60_000);
});
