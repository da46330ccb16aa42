import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderStatsTable } from "../../src/cli/commands/stats.js";
import type { StatsGroup, StatsReport } from "../../src/store/stats-repo.js";
import { runCli } from "../helpers/cli.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";
import { insertStatsFixture } from "../store/stats-fixture.js";

let db: TestDatabase;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  await insertStatsFixture(db.sql);
  env = { DATABASE_URL: db.url };
  dir = await mkdtemp(path.join(tmpdir(), "sl-export-"));
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

async function ok(args: string[]) {
  const result = await runCli(args, env);
  expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

const callColumns = async () =>
  (
    await db.sql<{ column_name: string }[]>`
      SELECT column_name FROM information_schema.columns
      WHERE table_name = 'llm_calls' AND column_name <> 'output' ORDER BY ordinal_position`
  ).map((r) => r.column_name);

describe("stock-ledger stats", () => {
  it("prints DESIGN §5 JSON for a day range (fixture: stats-fixture.ts)", async () => {
    const report = JSON.parse(
      await ok(["stats", "--since", "2026-03-01", "--until", "2026-04-02", "--by", "ticker", "--json"]),
    );
    expect(report).toMatchObject({
      from: "2026-03-01T00:00:00.000Z",
      to: "2026-04-03T00:00:00.000Z",
      by: "ticker",
    });
    expect(report.totals).toMatchObject({
      key: "all",
      analyses: 4,
      calls: 6,
      failed_calls: 2,
      cost_usd: 0.0065,
    });
    expect(report.groups.map((g: { key: string; cost_usd: number }) => [g.key, g.cost_usd])).toEqual([
      ["TCS", 0.0035],
      ["RELIANCE", 0.003],
      ["INFY", 0],
    ]);
  });

  it("prints an aligned table within 100 columns with the most expensive model and ticker", async () => {
    const text = await ok(["stats", "--since", "2026-03-10", "--until", "2026-04-02"]);
    const lines = text.split("\n");
    expect(lines[0]).toBe("Stats by stage, 2026-03-10 to 2026-04-02 (UTC days)");
    const header = lines[2] ?? "";
    expect(header).toMatch(/^STAGE\s+ANALYSES\s+CALLS\s+FAILED\s+SUCCESS\s+TOKENS\s+COST USD\s+P95 MS$/);
    const table = lines.slice(2, lines.indexOf("", 2));
    // Every figure column ends at the same place on every row.
    const end = header.length;
    for (const line of table.filter((l) => !l.startsWith("-"))) expect(line.length).toBe(end);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(100);
    expect(text).toMatch(/^indicator_summary\s+3\s+4\s+1\s+75\.0%\s+2,210\s+\$0\.001500\s+1,885$/m);
    expect(text).toMatch(/^TOTAL\s+4\s+6\s+2\s+66\.7%\s+5,510\s+\$0\.006500\s+3,000$/m);
    expect(text).toContain("Most expensive model:  gemini-2.5-pro ($0.003500)");
    expect(text).toContain("Most expensive ticker: TCS ($0.003500)");
    expect(text).toContain("Note: 1 call used a model with no known price");
  });

  it("prints every column with --wide: the token split, p50, unit cost and savings", async () => {
    const text = await ok(["stats", "--since", "2026-03-10", "--until", "2026-04-02", "--wide"]);
    const lines = text.split("\n");
    const header = lines[2] ?? "";
    expect(header).toMatch(
      /^STAGE\s+ANALYSES\s+CALLS\s+FAILED\s+SUCCESS\s+INPUT\s+OUTPUT\s+THINKING\s+CACHED\s+TOKENS\s+COST USD\s+USD\/1K TOK\s+P50 MS\s+P95 MS\s+SAVED TOK\s+REUSE SAVED\s+CACHE SAVED\s+BATCH SAVED$/,
    );
    expect(header.length).toBeGreaterThan(100);
    const table = lines.slice(2, lines.indexOf("", 2));
    for (const line of table.filter((l) => !l.startsWith("-"))) expect(line.length).toBe(header.length);
    expect(text).toMatch(
      /^indicator_summary\s+3\s+4\s+1\s+75\.0%\s+1,600\s+610\s+100\s+200\s+2,210\s+\$0\.001500/m,
    );
    expect(text).toMatch(/^TOTAL\s+4\s+6\s+2\s+66\.7%\s+4,400\s+1,110\s+170\s+200\s+5,510\s+\$0\.006500/m);
    // --json is the same with or without --wide (DESIGN §5).
    const args = ["stats", "--since", "2026-03-10", "--until", "2026-04-02", "--json"];
    expect(await ok([...args, "--wide"])).toBe(await ok(args));
  });

  it("shortens an over-long key to fit 100 columns, and says so; --wide keeps it whole", () => {
    const group = (key: string): StatsGroup => ({
      key,
      analyses: 12_345,
      calls: 1_234_567,
      failed_calls: 12_345,
      input_tokens: 9_876_543_210,
      output_tokens: 123_456_789,
      thinking_tokens: 12_345_678,
      cached_input_tokens: 1_234_567,
      total_tokens: 9_999_999_999,
      cost_usd: 12_345.678901,
      cost_per_1k_tokens: 0.001234,
      success_rate: 0.99,
      p50_ms: 12_345,
      p95_ms: 123_456,
      unpriced_calls: 0,
      tokens_saved: 0,
      reuse_cost_saved_usd: 0,
      cache_cost_saved_usd: 0,
      batch_saved_usd: 0,
    });
    const key = `gemini-${"x".repeat(50)}-preview`;
    const report: StatsReport = {
      from: "2026-01-01T00:00:00.000Z",
      to: "2026-02-01T00:00:00.000Z",
      by: "model",
      totals: group("all"),
      groups: [group(key), group("gemini-2.5-flash")],
    };
    const narrow = renderStatsTable(report).split("\n");
    for (const line of narrow) expect(line.length, line).toBeLessThanOrEqual(100);
    expect(narrow.join("\n")).toMatch(/^gemini-x+…\s+12,345\s+1,234,567\s+.*\$12345\.678901\s+123,456$/m);
    expect(narrow.at(-1)).toBe("(… marks values shortened to fit; --wide shows them in full)");
    const wide = renderStatsTable(report, { wide: true });
    expect(wide).toContain(key);
    expect(wide).not.toContain("…");
  });
});

describe("stock-ledger list and show", () => {
  beforeAll(async () => {
    // Years before the stats windows above, and not RELIANCE: the other tests do not see it.
    await db.sql`
      INSERT INTO stock_analyses (id, ticker, model, status, created_at, completed_at, duration_ms,
                                  total_input_tokens, total_output_tokens, total_tokens,
                                  llm_calls_count, failed_calls_count, cost_usd)
      VALUES ('list-1', 'BAJAJ-AUTO', 'gemini-2.5-flash', 'budget_exceeded', '2020-01-02T03:04:05.678Z',
              '2020-01-02T03:04:11.008Z', 5330, 1200000, 34567, 1234567, 6, 1, 0.004801)`;
  });

  it("lists analyses within 100 columns, counts with separators and money as in the summaries", async () => {
    const text = await ok(["list", "--ticker", "BAJAJ-AUTO"]);
    const [header, rule, row] = text.trimEnd().split("\n");
    expect(header).toMatch(/^ID\s+TICKER\s+STATUS\s+CALLS\s+TOKENS\s+COST USD\s+CREATED \(UTC\)$/);
    expect(rule).toMatch(/^-+$/);
    expect(row).toMatch(
      /^list-1\s+BAJAJ-AUTO\s+budget_exceeded\s+6\s+1,234,567\s+\$0\.004801\s+2020-01-02 03:04$/,
    );
    for (const line of text.trimEnd().split("\n")) expect(line.length).toBeLessThanOrEqual(100);
  });

  it("adds the model, the token split, the duration and the full timestamp with --wide", async () => {
    const text = await ok(["list", "--ticker", "BAJAJ-AUTO", "--wide"]);
    const [header, , row] = text.trimEnd().split("\n");
    expect(header).toMatch(
      /^ID\s+TICKER\s+STATUS\s+MODEL\s+CALLS\s+FAILED\s+INPUT\s+OUTPUT\s+TOKENS\s+COST USD\s+SECONDS\s+CREATED \(UTC\)$/,
    );
    expect(row).toMatch(
      /^list-1\s+BAJAJ-AUTO\s+budget_exceeded\s+gemini-2\.5-flash\s+6\s+1\s+1,200,000\s+34,567\s+1,234,567\s+\$0\.004801\s+5\.33\s+2020-01-02T03:04:05\.678Z$/,
    );
    expect(JSON.parse(await ok(["list", "--ticker", "BAJAJ-AUTO", "--json", "--wide"]))).toEqual(
      JSON.parse(await ok(["list", "--ticker", "BAJAJ-AUTO", "--json"])),
    );
  });

  it("shows an analysis' calls within 100 columns; --wide adds start, token split and source", async () => {
    const text = await ok(["show", "fx-a1"]);
    const calls = text.slice(text.indexOf("Calls:\n"));
    expect(calls).toMatch(/^ {2}STAGE\s+#\s+STATUS\s+TIER\s+TOKENS\s+COST USD\s+MS\s+ERROR$/m);
    expect(calls).toMatch(
      /^ {2}indicator_summary\s+1\s+failure\s+standard\s+0\s+\$0\.000000\s+100\s+rate_limited$/m,
    );
    expect(calls).toMatch(/^ {2}final_decision\s+1\s+success\s+standard\s+2,300\s+\$0\.002000\s+3,000$/m);
    for (const line of text.split("\n")) expect(line.length, line).toBeLessThanOrEqual(100);

    const wide = await ok(["show", "fx-a1", "--wide"]);
    expect(wide).toMatch(
      /^ {2}STARTED\s+STAGE\s+#\s+STATUS\s+TIER\s+INPUT\s+OUTPUT\s+THINKING\s+CACHED\s+TOKENS\s+COST USD\s+MS\s+SOURCE\s+ERROR$/m,
    );
    expect(wide).toMatch(
      /^ {2}2026-03-10T09:00:02\.000Z\s+indicator_summary\s+2\s+success\s+standard\s+1,000\s+500\s+100\s+200\s+1,500\s+\$0\.001000\s+1,000\s+provider$/m,
    );
  });
});

describe("stock-ledger export", () => {
  it("writes calls as CSV with a header of the column names, values as stored", async () => {
    const csv = await ok(["export", "--format", "csv", "--what", "calls"]);
    const [header, ...rows] = parse(csv) as string[][];
    expect(header).toEqual(await callColumns());
    expect(rows).toHaveLength(6);
    const records = rows.map((r) => Object.fromEntries((header ?? []).map((h, i) => [h, r[i]])));
    expect(records.map((r) => `${r.analysis_id}/${r.call_type}#${r.attempt}`)).toEqual([
      "fx-a1/indicator_summary#1",
      "fx-a1/indicator_summary#2",
      "fx-a1/final_decision#1",
      "fx-a2/indicator_summary#1",
      "fx-a2/final_decision#1",
      "fx-a3/indicator_summary#1",
    ]);
    expect(records[1]).toMatchObject({
      status: "success",
      input_tokens: "1000",
      cached_input_tokens: "200",
      thinking_tokens: "100",
      started_at: "2026-03-10T09:00:02.000Z",
      cost_usd: "0.001000000000",
      error_type: "",
    });
    expect(JSON.parse(records[1]?.modality_tokens ?? "")).toEqual({ input: {}, output: {} });
    expect(records[5]?.cost_usd).toBe(""); // unpriced: NULL, not 0
  });

  it("writes analyses as NDJSON, one object per line, filtered", async () => {
    const lines = (await ok(["export", "--format", "json", "--ticker", "RELIANCE", "--since", "2026-03-01"]))
      .trim()
      .split("\n");
    const rows = lines.map((l) => JSON.parse(l));
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      ["fx-a1", "completed"],
      ["fx-a3", "partial"],
    ]);
    expect(rows[0]).toMatchObject({ ticker: "RELIANCE", model: "gemini-2.5-flash", llm_calls_count: 3 });
  });

  it("writes --out through a temporary file, and leaves nothing when the export fails", async () => {
    const out = path.join(dir, "calls.csv");
    expect(
      await ok(["export", "--format", "csv", "--what", "calls", "--status", "failure", "--out", out]),
    ).toBe("");
    const [header, ...rows] = parse(await readFile(out, "utf8")) as string[][];
    expect(header).toEqual(await callColumns());
    expect(rows).toHaveLength(2);
    const failedOut = path.join(dir, "never.csv");
    const failed = await runCli(["export", "--format", "csv", "--out", failedOut], {
      DATABASE_URL: `${db.url}_missing`,
    });
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split("\n")).toHaveLength(1);
    expect(await readdir(dir)).toEqual(["calls.csv"]);
  });

  it("takes its format from --out's extension when --format is not given, else CSV", async () => {
    const csvHeader = /^id,ticker,status,/;
    const isNdjson = (text: string) =>
      text
        .trimEnd()
        .split("\n")
        .every((line) => typeof JSON.parse(line).id === "string");
    // No --out: CSV on stdout.
    expect(await ok(["export"])).toMatch(csvHeader);
    const cases: [string, string[], (text: string) => boolean][] = [
      ["rows.csv", [], (text) => csvHeader.test(text)],
      ["rows.ndjson", [], isNdjson],
      ["rows.JSON", [], isNdjson],
      ["rows.jsonl", [], isNdjson],
      ["rows.txt", [], (text) => csvHeader.test(text)],
      ["explicit.csv", ["--format", "json"], isNdjson],
    ];
    for (const [file, args, expected] of cases) {
      const out = path.join(dir, file);
      expect(await ok(["export", ...args, "--out", out])).toBe("");
      expect(expected(await readFile(out, "utf8")), file).toBe(true);
      await rm(out);
    }
    const help = await ok(["export", "--help"]);
    expect(help.replace(/\s+/g, " ")).toContain(
      "default: from --out's extension (.json, .ndjson, .jsonl → json), else csv",
    );
  });

  it("refuses bad options with exit 2, one line on stderr and nothing written", async () => {
    const out = path.join(dir, "bad.csv");
    // The full list of refused values is checked in-process (test/store/stats-*.test.ts).
    const cases: [string[], RegExp][] = [
      [["stats", "--range", "3d"], /invalid --range "3d": must be one of today, 7d, 30d, all/],
      [["stats", "--since", "2026-02-30", "--json"], /invalid --since "2026-02-30": .*YYYY-MM-DD/],
      [["stats", "--range", "7d", "--since", "2026-03-01"], /either --range or --since\/--until/],
      [
        ["export", "--format", "xml", "--out", out],
        /^stock-ledger: invalid --format "xml": must be one of csv, json$/,
      ],
      [["export", "--format", "", "--out", out], /invalid --format "": must be one of csv, json$/],
      [
        ["stats", "--since", "2026-03-02", "--until", "2026-03-01"],
        /invalid --since\/--until: 2026-03-02 is after 2026-03-01/,
      ],
      [["export", "--format", "csv", "--since", "yesterday", "--out", out], /invalid date "yesterday"/],
      [
        ["export", "--format", "csv", "--what", "calls", "--status", "completed", "--out", out],
        /invalid call status/,
      ],
      [
        ["export", "--format", "csv", "--out", path.join(dir, "missing", "x.csv")],
        /directory does not exist/,
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, env)));
    results.forEach((result, i) => {
      const [args, message] = cases[i] ?? [[], /./];
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe("");
      const lines = result.stderr.trim().split("\n");
      expect(lines, args.join(" ")).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
    expect(await readdir(dir)).not.toContain("bad.csv");
  });
});
