import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.js";
import { runCli } from "../helpers/cli.js";
import {
  countQueueKeys,
  createTestDatabase,
  dropQueueKeys,
  QUEUE_BACKEND,
  type TestDatabase,
  uniqueName,
} from "../helpers/services.js";

let db: TestDatabase;
const prefix = uniqueName("sl-test-badinput");
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, QUEUE_PREFIX: prefix, QUEUE_BACKEND };
});
afterAll(async () => {
  await db.drop();
  await dropQueueKeys(prefix);
});

async function expectRefused(args: string[], message: RegExp, extraEnv: Record<string, string> = {}) {
  const result = await runCli(args, { ...env, ...extraEnv });
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2);
  const lines = result.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(result.stdout).toBe("");
}

describe("bad input is refused before it reaches Redis or SQL", () => {
  const badTickers = [
    "",
    "A".repeat(21),
    "RELI'ANCE",
    'TC"S',
    "REL IANCE",
    "../etc/passwd",
    "ÄPFEL",
    "-TCS",
    "TCS;DROP",
  ];
  const badIds = ["", "a".repeat(65), "12345", "job:1", "../x", "ünïcode", "has space", "quote'd"];

  it.each(badTickers)("ticker %j → exit 2", async (ticker) => {
    await expectRefused(
      ["analyze", "--json", "--", ticker],
      /^stock-ledger: invalid ticker .*: must be 1-20 of/,
    );
  });

  it.each(badIds)("analysis id %j → exit 2", async (id) => {
    await expectRefused(["analyze", "RELIANCE", "--id", id], /^stock-ledger: invalid analysis id .*: must/);
  });

  it("refuses bad ids for summary and show, bad options for list, and unknown commands", async () => {
    await expectRefused(["summary", "../../etc"], /invalid analysis id/);
    await expectRefused(["show", "12345", "--json"], /must not be all digits/);
    await expectRefused(["list", "--limit", "0"], /invalid limit "0"/);
    await expectRefused(["list", "--status", "done"], /invalid status "done": must be one of queued/);
    await expectRefused(["list", "--since", "yesterday"], /invalid date "yesterday"/);
    await expectRefused(["analyze"], /missing required argument/);
    await expectRefused(["analyze", "TCS", "INFY", "--id", "two-tickers"], /--id takes exactly one ticker/);
    await expectRefused(["frobnicate"], /unknown command/);
    await expectRefused(
      ["analyze", "TCS", "--max-tokens", "lots"],
      /invalid --max-tokens "lots": must be a whole number/,
    );
    await expectRefused(
      ["analyze", "TCS", "--max-cost", "-1"],
      /invalid --max-cost "-1": must be a USD amount/,
    );
    await expectRefused(
      ["analyze", "TCS", "--batch-fallback", "sync"],
      /^stock-ledger: --batch-fallback needs --batch$/,
    );
    await expectRefused(
      ["analyze", "TCS", "--batch", "--batch-fallback", "later"],
      /^stock-ledger: --batch-fallback must be sync or none, not "later"$/,
    );
    await expectRefused(
      ["analyze", "TCS", "--batch", "--context-cache"],
      /^stock-ledger: --context-cache cannot be combined with --batch: a cache may lapse before the batch runs$/,
    );
  });

  it("refuses invalid environment naming the variable", async () => {
    await expectRefused(["list"], /^stock-ledger: invalid WORKER_CONCURRENCY: /, {
      WORKER_CONCURRENCY: "lots",
    });
    await expectRefused(["list"], /^stock-ledger: invalid DATABASE_URL: must be a URL/, {
      DATABASE_URL: "mysql://x",
    });
    await expectRefused(["list"], /^stock-ledger: invalid GEMINI_BASE_URL/, { GEMINI_BASE_URL: "not a url" });
    await expectRefused(
      ["analyze", "TCS"],
      /^stock-ledger: invalid QUEUE_BACKEND: must be redis or postgres$/,
      {
        QUEUE_BACKEND: "mysql",
      },
    );
  });

  it("gives commander's usage errors one line with our prefix, suggestion kept", async () => {
    await expectRefused(
      ["analize", "TCS"],
      /^stock-ledger: unknown command 'analize' \(did you mean analyze\?\)$/,
    );
    await expectRefused(["frobnicate"], /^stock-ledger: unknown command 'frobnicate'$/);
    await expectRefused(["list", "--bogus"], /^stock-ledger: unknown option '--bogus'$/);
    await expectRefused(
      ["list", "--jsno"],
      /^stock-ledger: unknown option '--jsno' \(did you mean --json\?\)$/,
    );
    await expectRefused(
      ["list", "extra"],
      /^stock-ledger: too many arguments for 'list'\. Expected 0 arguments/,
    );
    await expectRefused(["list", "--limit"], /^stock-ledger: option '--limit <n>' argument missing$/);
  });

  it("refuses a bad LOG_LEVEL in one line, not pino's stack trace", async () => {
    await expectRefused(
      ["list"],
      /^stock-ledger: invalid LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, not "loud"$/,
      { LOG_LEVEL: "loud" },
    );
  });

  it.each([
    ["WORKER_CONCURRENCY", "abc", 'must be a whole number from 1 to 1024, not "abc"'],
    ["WORKER_CONCURRENCY", "0", 'must be a whole number from 1 to 1024, not "0"'],
    ["WORKER_CONCURRENCY", "2.5", 'must be a whole number from 1 to 1024, not "2.5"'],
    ["LLM_TIMEOUT_MS", "1e9", 'must be a whole number of milliseconds from 1 to 600000, not "1e9"'],
    ["LLM_MAX_ATTEMPTS", "many", 'must be a whole number from 1 to 10, not "many"'],
    ["WORKER_LOCK_MS", "10", 'must be a whole number of milliseconds from 1000 to 600000, not "10"'],
    ["RECOVERY_INTERVAL_MS", "-1", 'must be a whole number of milliseconds from 500 to 3600000, not "-1"'],
    ["LLM_RPM", "lots", 'must be a whole number of requests from 1 to 1000000, not "lots"'],
    ["LLM_TPM", "0", 'must be a whole number of tokens from 1 to 1000000000, not "0"'],
    ["LLM_RATE_WINDOW_MS", "1m", 'must be a whole number of milliseconds from 100 to 3600000, not "1m"'],
    ["DAILY_TOKEN_BUDGET", "1.5", 'must be a whole number of tokens, 1 or more, not "1.5"'],
    ["DAILY_COST_BUDGET_USD", "$5", 'must be a USD amount such as 25 or 12.50, not "$5"'],
    ["DAILY_COST_BUDGET_USD", "0", 'must be more than 0, not "0"'],
    [
      "BUDGET_ALERT_THRESHOLD",
      "80%",
      'must be a number between 0 and 1 (both excluded), such as 0.8, not "80%"',
    ],
    ["BUDGET_ALERT_THRESHOLD", "1", 'must be a number between 0 and 1 (both excluded), such as 0.8, not "1"'],
    ["DAILY_BUDGET_EXCEEDED", "wait", 'must be refuse or queue, not "wait"'],
    ["REUSE_TTL_SECONDS", "forever", 'must be a whole number of seconds from 1 to 2592000, not "forever"'],
    ["REUSE_BY_DEFAULT", "yes", 'must be true or false, not "yes"'],
    ["CHARTS", "maybe", 'must be on or off, not "maybe"'],
    ["CHART_TRANSPORT", "email", 'must be files or inline, not "email"'],
    ["EMULATOR_LATENCY_MS", "slow", 'must be a whole number of milliseconds from 0 to 60000, not "slow"'],
    ["BATCH_COLLECT_MS", "soon", 'must be a whole number of milliseconds from 0 to 3600000, not "soon"'],
    ["BATCH_POLL_MIN_MS", "1", 'must be a whole number of milliseconds from 10 to 3600000, not "1"'],
    ["MARKET_DATA", "yahoo", 'must be sample or live, not "yahoo"'],
    ["MARKET_DATA_TTL_MINUTES", "0", 'must be a whole number of minutes from 1 to 10080, not "0"'],
    ["MARKET_DATA_TIMEOUT_MS", "x", 'must be a whole number of milliseconds from 1 to 120000, not "x"'],
    ["GEMINI_MODEL", "Gemini Pro", 'must be a model name such as gemini-2.5-flash, not "Gemini Pro"'],
    ["QUEUE_PREFIX", "a:b", `must be 1-64 letters, digits, _ - . { } (no ':'), not "a:b"`],
    [
      "DATABASE_URL",
      "mysql://admin:hunter2@db/x",
      'must be a URL starting with postgres:// or postgresql://, not "mysql://***@db/x"',
    ],
    ["WORKER_CONCURRENCY", "9".repeat(60), `must be a whole number from 1 to 1024, not "${"9".repeat(40)}…"`],
    // Secrets are never echoed.
    ["GEMINI_API_KEY", "   ", "must not be empty when set"],
    ["API_TOKEN", "short secret", "must be 16-256 printable characters without spaces"],
  ])("refuses %s=%j naming the allowed values and the bad one", async (name, value, message) => {
    const escaped = `invalid ${name}: ${message}`.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await expectRefused(["list"], new RegExp(`^stock-ledger: ${escaped}$`), { [name]: value });
  });

  it("prints the version with --version", async () => {
    const { version } = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8"));
    const result = await runCli(["--version"], env);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("wrote no row and queued no job", async () => {
    const [{ count }] = (await db.sql`SELECT count(*)::int AS count FROM stock_analyses`) as unknown as [
      { count: number },
    ];
    expect(count).toBe(0);
    expect(await countQueueKeys(env)).toBe(0);
  });

  it("reports an unknown analysis as a runtime failure (exit 1)", async () => {
    const result = await runCli(["summary", "an_missing"], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe("stock-ledger: analysis an_missing not found");
  });
});
