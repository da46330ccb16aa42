import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countPriceBars, importPriceBars, loadPriceBars } from "../../src/store/price-bars-repo.js";
import { runCli } from "../helpers/cli.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "sl-import-"));
  env = { DATABASE_URL: db.url };
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

async function csvFile(name: string, lines: string[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

describe("stock-ledger import-prices", () => {
  it("imports a multi-ticker file (any header case, extra columns ignored) and says what it wrote", async () => {
    const file = await csvFile("two.csv", [
      "Ticker,DATE,Open,High,Low,Close,Adj Close,Volume",
      "tcs,2024-01-01,3600,3650.5,3590,3640.25,3500,1200000",
      "tcs,2024-01-02,3640,3660,3610,3620,3480,900000",
      "INFY,2024-01-01,1500,1510,1490,1505.5,1400,2500000",
    ]);
    const result = await runCli(["import-prices", file], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      [
        "imported TCS: 2 bars, 2024-01-01 to 2024-01-02 (2 new, 0 updated), currency not given, taken as INR",
        "imported INFY: 1 bars, 2024-01-01 to 2024-01-01 (1 new, 0 updated), currency not given, taken as INR",
        "imported 3 bars for 2 tickers",
        "",
      ].join("\n"),
    );
    expect((await loadPriceBars(db.sql, "TCS", "import"))?.bars).toEqual([
      { date: "2024-01-01", open: 3600, high: 3650.5, low: 3590, close: 3640.25, volume: 1_200_000 },
      { date: "2024-01-02", open: 3640, high: 3660, low: 3610, close: 3620, volume: 900_000 },
    ]);
  });

  it("takes --ticker for a file without a ticker column, and re-imports idempotently", async () => {
    const file = await csvFile("aapl.csv", [
      "date,open,high,low,close,volume",
      "2024-03-01,180,182,179,181.5,50000000",
      "2024-03-04,181.5,183,180,182,42000000",
      "2024-03-05,182,182.5,178,178.25,61000000",
    ]);
    const first = await runCli(["import-prices", file, "--ticker", "aapl", "--currency", "usd"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("imported AAPL: 3 bars, 2024-03-01 to 2024-03-05 (3 new, 0 updated), USD\n");

    const again = await runCli(["import-prices", file, "--ticker", "AAPL"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe("imported AAPL: 3 bars, 2024-03-01 to 2024-03-05 (0 new, 3 updated), USD\n");
    expect(await countPriceBars(db.sql, { ticker: "AAPL" })).toBe(3);

    // What an analysis or `chart` now sees for AAPL is the import, not the shipped sample.
    const png = path.join(dir, "aapl.png");
    const chart = await runCli(["chart", "AAPL", "--out", png, "--kind", "reversal"], env);
    expect(chart.code, chart.stderr).toBe(0);
    expect(chart.stdout).toMatch(
      /^wrote .*aapl\.png: AAPL reversal chart, 1024x768 PNG, \d+ KB \(source: imported CSV \(3 bars\)\)\n$/,
    );
    const bytes = await readFile(png);
    expect(bytes.readUInt32BE(16)).toBe(1024);
    expect(bytes.readUInt32BE(20)).toBe(768);
  });

  it("accepts a newest-first file (Yahoo/Investing order) and stores it by date", async () => {
    const file = await csvFile("newest-first.csv", [
      "Date,Open,High,Low,Close,Adj Close,Volume",
      "2024-03-05,182,182.5,178,178.25,178,61000000",
      "2024-03-04,181.5,183,180,182,181.8,42000000",
      "2024-03-01,180,182,179,181.5,181.2,50000000",
    ]);
    const result = await runCli(["import-prices", file, "--ticker", "NEWEST", "--currency", "USD"], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("imported NEWEST: 3 bars, 2024-03-01 to 2024-03-05 (3 new, 0 updated), USD\n");
    expect(
      (await loadPriceBars(db.sql, "NEWEST", "import"))?.bars.map((bar) => [bar.date, bar.close]),
    ).toEqual([
      ["2024-03-01", 181.5],
      ["2024-03-04", 182],
      ["2024-03-05", 178.25],
    ]);
  });

  it("refuses a repeated date in a newest-first file, naming both lines, and writes nothing", async () => {
    const file = await csvFile("prices.csv", [
      "Date,Open,High,Low,Close,Volume",
      "2024-03-06,10,11,9,10.5,100",
      "2024-03-05,10,11,9,10.5,100",
      "2024-03-04,10,11,9,10.5,100",
      "2024-03-01,10,11,9,10.5,100",
      "2024-02-29,10,11,9,10.5,100",
      "2024-02-28,10,11,9,10.5,100",
      "2024-02-27,10,11,9,10.5,100",
      "2024-03-01,10,11,9,10.25,100",
    ]);
    const result = await runCli(["import-prices", file, "--ticker", "DUPS"], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`stock-ledger: ${file}: date 2024-03-01 appears on lines 5 and 9\n`);
    expect(await countPriceBars(db.sql, { ticker: "DUPS" })).toBe(0);
  });

  it("refuses --ticker that contradicts the file's ticker column, accepts it in another case", async () => {
    const file = await csvFile("wipro-col.csv", [
      "Ticker,Date,Open,High,Low,Close,Volume",
      "WIPRO,2024-01-01,3600,3650.5,3590,3640.25,1200000",
      "WIPRO,2024-01-02,3640,3660,3610,3620,900000",
    ]);
    const other = await runCli(["import-prices", file, "--ticker", "HCLTECH"], env);
    expect(other.code).toBe(2);
    expect(other.stdout).toBe("");
    expect(other.stderr).toBe(
      `stock-ledger: ${file}: line 2: the ticker column says WIPRO but the ticker given is HCLTECH\n`,
    );
    expect(await countPriceBars(db.sql, { ticker: "HCLTECH" })).toBe(0);
    expect(await countPriceBars(db.sql, { ticker: "WIPRO" })).toBe(0);

    const same = await runCli(["import-prices", file, "--ticker", "wipro", "--currency", "INR"], env);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toBe("imported WIPRO: 2 bars, 2024-01-01 to 2024-01-02 (2 new, 0 updated), INR\n");
  });

  it("stores the currency it reports: the default when none is given, else the one an earlier import named", async () => {
    const storedCurrencies = async (ticker: string) =>
      (
        await db.sql<{ currency: string | null }[]>`
          SELECT DISTINCT currency FROM price_bars WHERE ticker = ${ticker} AND source = 'import'`
      ).map((row) => row.currency);

    const file = await csvFile("cur.csv", ["date,open,high,low,close,volume", "2024-01-01,10,11,9,10.5,100"]);
    const first = await runCli(["import-prices", file, "--ticker", "CURDEF"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(
      "imported CURDEF: 1 bars, 2024-01-01 to 2024-01-01 (1 new, 0 updated), currency not given, taken as INR\n",
    );
    expect(await storedCurrencies("CURDEF")).toEqual(["INR"]);
    expect((await loadPriceBars(db.sql, "CURDEF", "import"))?.currency).toBe("INR");

    // A ticker first imported in USD keeps USD when a later file (with new dates) names none.
    const usd = await runCli(["import-prices", file, "--ticker", "CURUSD", "--currency", "usd"], env);
    expect(usd.code, usd.stderr).toBe(0);
    const later = await csvFile("cur-later.csv", [
      "date,open,high,low,close,volume",
      "2024-01-02,10.5,11,10,10.75,100",
    ]);
    const again = await runCli(["import-prices", later, "--ticker", "CURUSD"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe("imported CURUSD: 1 bars, 2024-01-02 to 2024-01-02 (1 new, 0 updated), USD\n");
    expect(await storedCurrencies("CURUSD")).toEqual(["USD"]);
  });

  it("refuses each kind of bad file with exit 2, one line naming the line, and writes nothing", async () => {
    const header = "date,open,high,low,close,volume";
    const good = ["2024-01-01,10,11,9,10.5,100", "2024-01-02,10.5,11.5,10,11,120"];
    const cases: [string, string[], RegExp][] = [
      [
        "missing-column.csv",
        ["date,open,high,low,volume", "2024-01-01,10,11,9,100"],
        /: line 1: missing column: close$/,
      ],
      [
        "non-numeric.csv",
        [header, ...good, "2024-01-03,11,12,10,abc,90"],
        /: line 4: close is not a number \("abc"\)$/,
      ],
      [
        "negative.csv",
        [header, good[0] as string, "2024-01-02,10.5,11.5,-1,11,120"],
        /: line 3: low must be positive \(got -1\)$/,
      ],
      [
        "duplicate.csv",
        [header, ...good, "2024-01-02,11,12,10,11.5,90"],
        /\.csv: date 2024-01-02 appears on lines 3 and 4$/,
      ],
      [
        "other-ticker.csv",
        [
          "ticker,date,open,high,low,close,volume",
          "BADT,2024-01-01,10,11,9,10.5,100",
          "TCS,2024-01-02,10,11,9,10,5",
        ],
        /\.csv: line 3: the ticker column says TCS but the ticker given is BADT$/,
      ],
    ];
    const results = await Promise.all(
      cases.map(async ([name, lines]) =>
        runCli(["import-prices", await csvFile(name, lines), "--ticker", "BADT"], env),
      ),
    );
    results.forEach((result, i) => {
      const [name, , message] = cases[i] as (typeof cases)[number];
      expect(result.code, `${name}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe("");
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^stock-ledger: ${path.join(dir, name).replaceAll(".", "\\.")}`));
      expect(lines[0]).toMatch(message);
    });
    expect(await countPriceBars(db.sql, { ticker: "BADT" })).toBe(0);
  });

  it("leaves a ticker's existing bars untouched when a later file has a bad row", async () => {
    await importPriceBars(
      db.sql,
      new Map([["KEEP", [{ date: "2024-02-01", open: 50, high: 51, low: 49, close: 50.5, volume: 10 }]]]),
      {
        currency: null,
      },
    );
    const before = await loadPriceBars(db.sql, "KEEP", "import");
    const bad = await csvFile("keep-bad.csv", [
      "date,open,high,low,close,volume",
      "2024-02-01,60,61,59,60.5,10", // would update the stored row...
      "2024-02-02,60.5,61,59,x,10", // ...but this row is bad, so nothing happens
    ]);
    const file = await csvFile("ok.csv", ["date,open,high,low,close,volume", "2024-01-01,10,11,9,10.5,100"]);
    // Run together: each is its own process, and none of them may write.
    const [keep, missing, badCurrency, noTicker] = await Promise.all([
      runCli(["import-prices", bad, "--ticker", "KEEP"], env),
      runCli(["import-prices", path.join(dir, "nope.csv"), "--ticker", "X"], env),
      runCli(["import-prices", file, "--ticker", "OK", "--currency", "dollars"], env),
      runCli(["import-prices", file], env),
    ]);
    expect(keep.code).toBe(2);
    expect(keep.stderr).toMatch(/line 3: close is not a number/);
    expect(await loadPriceBars(db.sql, "KEEP", "import")).toEqual(before);

    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^stock-ledger: cannot read .*nope\.csv: no such file\n$/);
    expect(badCurrency.code).toBe(2);
    expect(badCurrency.stderr).toMatch(/invalid currency "dollars": must be a 3-letter code/);
    expect(noTicker.code).toBe(2);
    expect(noTicker.stderr).toMatch(/line 1: no ticker column and no ticker given/);
    expect(await countPriceBars(db.sql, { ticker: "OK" })).toBe(0);
  });
});
