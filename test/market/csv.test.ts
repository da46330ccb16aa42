import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CsvPriceProvider, PriceFileError, parsePriceCsv } from "../../src/market/csv.js";

const HEADER = "Date,Open,High,Low,Close,Adj Close,Volume";

function csv(...rows: string[]): string {
  return `${[HEADER, ...rows].join("\n")}\n`;
}

function errorOf(run: () => unknown): PriceFileError {
  try {
    run();
  } catch (error) {
    if (error instanceof PriceFileError) return error;
    throw error;
  }
  throw new Error("expected a PriceFileError");
}

describe("parsePriceCsv", () => {
  it("reads OHLCV rows in any header case, ignoring extra columns", () => {
    const text =
      "\uFEFFdate,OPEN,High,low,Close,Adj Close,VOLUME\n2024-01-02,10,11,9.5,10.5,10.4,1200\n2024-01-03,10.5,12,10,11.75,11.7,900\n";
    const series = parsePriceCsv(text, { ticker: "tcs" });
    expect([...series.keys()]).toEqual(["TCS"]);
    expect(series.get("TCS")).toEqual([
      { date: "2024-01-02", open: 10, high: 11, low: 9.5, close: 10.5, volume: 1200 },
      { date: "2024-01-03", open: 10.5, high: 12, low: 10, close: 11.75, volume: 900 },
    ]);
  });

  it("splits a ticker column into one series per ticker, each ascending on its own", () => {
    const text = [
      "ticker,date,open,high,low,close,volume",
      "infy,2024-01-02,10,11,9,10,100",
      "TCS,2024-01-02,20,21,19,20,200",
      "INFY,2024-01-03,10,11,9,10.5,100",
      "TCS,2024-01-03,20,21,19,20.5,200",
    ].join("\n");
    const series = parsePriceCsv(text);
    expect([...series.keys()]).toEqual(["INFY", "TCS"]);
    expect(series.get("INFY")?.map((bar) => bar.close)).toEqual([10, 10.5]);
    expect(series.get("TCS")?.map((bar) => bar.date)).toEqual(["2024-01-02", "2024-01-03"]);
  });

  it("accepts an ISO timestamp in the date column and keeps the day", () => {
    const series = parsePriceCsv(csv("2024-01-02T00:00:00Z,10,11,9,10,10,5"), { ticker: "X" });
    expect(series.get("X")?.[0]?.date).toBe("2024-01-02");
  });

  it("counts file lines, blank ones included, in error messages", () => {
    const text = `${HEADER}\n2024-01-02,10,11,9,10,10,5\n\n2024-01-03,10,11,9,abc,10,5\n`;
    expect(errorOf(() => parsePriceCsv(text, { ticker: "X" })).message).toBe(
      'line 4: close is not a number ("abc")',
    );
  });

  const badRows: [string, string, string][] = [
    ["non-numeric close", "2024-01-03,10,11,9,abc,10,5", 'line 3: close is not a number ("abc")'],
    ["empty volume", "2024-01-03,10,11,9,10,10,", "line 3: volume is empty"],
    ["zero price", "2024-01-03,0,11,9,10,10,5", "line 3: open must be positive (got 0)"],
    ["negative price", "2024-01-03,10,11,-9,10,10,5", "line 3: low must be positive (got -9)"],
    ["negative volume", "2024-01-03,10,11,9,10,10,-5", "line 3: volume must not be negative (got -5)"],
    ["high below low", "2024-01-03,10,9,11,10,10,5", "line 3: high (9) is below low (11)"],
    [
      "close above high",
      "2024-01-03,10,11,9,12,10,5",
      "line 3: close (12) is outside the day's range low 9 to high 11",
    ],
    [
      "impossible date",
      "2024-02-30,10,11,9,10,10,5",
      'line 3: date "2024-02-30" is not a valid YYYY-MM-DD date',
    ],
    [
      "non-ISO date",
      "03/01/2024,10,11,9,10,10,5",
      'line 3: date "03/01/2024" is not a valid YYYY-MM-DD date',
    ],
    ["short row", "2024-01-03,10,11,9,10", "line 3: missing value for volume"],
    ["long row", "2024-01-03,10,11,9,10,10,5,7", "line 3: 8 values but the header has 7 columns"],
  ];

  it.each(badRows)("rejects a %s, naming the line", (_case, row, message) => {
    const error = errorOf(() => parsePriceCsv(csv("2024-01-02,10,11,9,10,10,5", row), { ticker: "X" }));
    expect(error.message).toBe(message);
    expect(error.line).toBe(3);
  });

  it("accepts rows in any order (newest first, as Yahoo and Investing export) and sorts them by date", () => {
    const newestFirst = csv(
      "2024-01-04,11,12,10,11.5,11.4,300",
      "2024-01-03,10.5,12,10,11,10.9,200",
      "2024-01-02,10,11,9,10.5,10.4,100",
    );
    expect(
      parsePriceCsv(newestFirst, { ticker: "X" })
        .get("X")
        ?.map((bar) => [bar.date, bar.volume]),
    ).toEqual([
      ["2024-01-02", 100],
      ["2024-01-03", 200],
      ["2024-01-04", 300],
    ]);
    const shuffled = csv(
      "2024-01-03,10,11,9,10,10,2",
      "2024-01-05,10,11,9,10,10,3",
      "2024-01-01,10,11,9,10,10,1",
    );
    expect(
      parsePriceCsv(shuffled, { ticker: "X" })
        .get("X")
        ?.map((bar) => bar.date),
    ).toEqual(["2024-01-01", "2024-01-03", "2024-01-05"]);
  });

  it("refuses a repeated date, naming both lines", () => {
    const text = csv(
      "2024-01-05,10,11,9,10,10,5",
      "2024-01-04,10,11,9,10,10,5",
      "2024-01-03,10,11,9,10,10,5",
      "2024-01-04,10,11,9,10.5,10,5",
    );
    const error = errorOf(() => parsePriceCsv(text, { ticker: "X" }));
    expect(error.message).toBe("date 2024-01-04 appears on lines 3 and 5");
    expect(new PriceFileError(error.detail, { line: error.line, file: "prices.csv" }).message).toBe(
      "prices.csv: date 2024-01-04 appears on lines 3 and 5",
    );
  });

  it("names the ticker of a repeated date in a file with a ticker column", () => {
    const text = [
      "ticker,date,open,high,low,close,volume",
      "TCS,2024-01-03,20,21,19,20,200",
      "INFY,2024-01-03,10,11,9,10,100",
      "tcs,2024-01-03,20,21,19,20.5,200",
    ].join("\n");
    expect(errorOf(() => parsePriceCsv(text)).message).toBe(
      "date 2024-01-03 for TCS appears on lines 2 and 4",
    );
  });

  it("with strictTicker, refuses a ticker column that names another ticker than the one given", () => {
    const text = [
      "Symbol,Date,Open,High,Low,Close,Volume",
      "infy,2024-01-02,10,11,9,10,100",
      "INFY,2024-01-03,10,11,9,10.5,100",
    ].join("\n");
    // Same ticker in any case is fine, and so is an empty cell.
    expect([...parsePriceCsv(text, { ticker: "Infy", strictTicker: true }).keys()]).toEqual(["INFY"]);
    expect(
      parsePriceCsv("ticker,date,open,high,low,close,volume\n,2024-01-02,10,11,9,10,100\n", {
        ticker: "TCS",
        strictTicker: true,
      }).get("TCS"),
    ).toHaveLength(1);

    const error = errorOf(() => parsePriceCsv(text, { ticker: "tcs", strictTicker: true }));
    expect(error.message).toBe("line 2: the ticker column says INFY but the ticker given is TCS");
    // Without strictTicker the given ticker only fills empty cells (CsvPriceProvider's file names).
    expect([...parsePriceCsv(text, { ticker: "TCS" }).keys()]).toEqual(["INFY"]);
  });

  it("names every missing header column", () => {
    const error = errorOf(() => parsePriceCsv("Date,Open,High,Low\n2024-01-02,1,2,1\n", { ticker: "X" }));
    expect(error.message).toBe("line 1: missing columns: close, volume");
  });

  it("needs a ticker column or a ticker", () => {
    expect(errorOf(() => parsePriceCsv(csv("2024-01-02,10,11,9,10,10,5"))).message).toBe(
      "line 1: no ticker column and no ticker given",
    );
  });

  it("rejects an invalid ticker in the ticker column", () => {
    const text = "ticker,date,open,high,low,close,volume\nBAD TICKER,2024-01-02,10,11,9,10,5\n";
    expect(errorOf(() => parsePriceCsv(text)).message).toBe('line 2: ticker "BAD TICKER" is not valid');
  });

  it("rejects an empty file and a header without rows", () => {
    expect(errorOf(() => parsePriceCsv("", { ticker: "X" })).message).toBe("the file is empty");
    expect(errorOf(() => parsePriceCsv(`${HEADER}\n`, { ticker: "X" })).message).toBe(
      "line 1: no price rows after the header",
    );
  });

  it("reports malformed CSV as a PriceFileError", () => {
    const error = errorOf(() => parsePriceCsv(`${HEADER}\n2024-01-02,"10,11,9,10,10,5\n`, { ticker: "X" }));
    expect(error.message).toMatch(/^line \d+: malformed CSV: /);
  });
});

describe("CsvPriceProvider", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "stock-ledger-csv-"));
    await writeFile(
      path.join(dir, "TCS.csv"),
      csv("2024-01-02,10,11,9,10,10,5", "2024-01-03,10,11,9,10.5,10,6"),
    );
    await writeFile(path.join(dir, "bad.csv"), csv("2024-01-02,10,11,9,oops,10,5"));
    await writeFile(
      path.join(dir, "many.csv"),
      "symbol,date,open,high,low,close,volume\nAAA,2024-01-02,1,2,1,2,10\nBBB,2024-01-02,5,6,4,5,20\n",
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("serves TICKER.csv from a directory, case-insensitively", async () => {
    const series = await new CsvPriceProvider(dir).load("tcs");
    expect(series?.ticker).toBe("TCS");
    expect(series?.currency).toBe("INR");
    expect(series?.source).toEqual({ kind: "csv", label: "imported CSV prices (TCS.csv)" });
    expect(series?.bars.map((bar) => bar.close)).toEqual([10, 10.5]);
  });

  it("returns null for a ticker without a file, or a missing location", async () => {
    expect(await new CsvPriceProvider(dir).load("INFY")).toBeNull();
    expect(await new CsvPriceProvider(path.join(dir, "nowhere")).load("TCS")).toBeNull();
  });

  it("reads one multi-ticker file", async () => {
    const provider = new CsvPriceProvider(path.join(dir, "many.csv"), { currency: "USD" });
    expect((await provider.load("BBB"))?.bars).toEqual([
      { date: "2024-01-02", open: 5, high: 6, low: 4, close: 5, volume: 20 },
    ]);
    expect((await provider.load("BBB"))?.currency).toBe("USD");
    expect(await provider.load("CCC")).toBeNull();
  });

  it("names the file and line of a bad row", async () => {
    const file = path.join(dir, "bad.csv");
    await expect(new CsvPriceProvider(dir).load("BAD")).rejects.toThrow(
      `${file}: line 2: close is not a number ("oops")`,
    );
  });
});
