import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
