import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  it("prints an aligned table with the most expensive model and ticker", async () => {
    const text = await ok(["stats", "--since", "2026-03-10", "--until", "2026-04-02"]);
    const lines = text.split("\n");
    expect(lines[0]).toBe("Stats by stage, 2026-03-10 to 2026-04-02 (UTC days)");
    const header = lines[2] ?? "";
    expect(header).toMatch(
      /^STAGE\s+ANALYSES\s+CALLS\s+FAILED\s+SUCCESS\s+INPUT.*P50 MS\s+P95 MS\s+SAVED TOK\s+REUSE SAVED\s+CACHE SAVED$/,
    );
    const table = lines.slice(2, lines.indexOf("", 2));
    // Every figure column ends at the same place on every row.
    const end = header.length;
    for (const line of table.filter((l) => !l.startsWith("-"))) expect(line.length).toBe(end);
    expect(text).toMatch(
      /^indicator_summary\s+3\s+4\s+1\s+75\.0%\s+1,600\s+610\s+100\s+200\s+2,210\s+\$0\.001500/m,
    );
    expect(text).toMatch(/^TOTAL\s+4\s+6\s+2\s+66\.7%\s+4,400\s+1,110\s+170\s+200\s+5,510\s+\$0\.006500/m);
    expect(text).toContain("Most expensive model:  gemini-2.5-pro ($0.003500)");
    expect(text).toContain("Most expensive ticker: TCS ($0.003500)");
    expect(text).toContain("Note: 1 call used a model with no known price");
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

  it("refuses bad options with exit 2, one line on stderr and nothing written", async () => {
    const out = path.join(dir, "bad.csv");
    // The full list of refused values is checked in-process (test/store/stats-*.test.ts).
    const cases: [string[], RegExp][] = [
      [["stats", "--range", "3d"], /invalid --range "3d": must be one of today, 7d, 30d, all/],
      [["stats", "--since", "2026-02-30", "--json"], /invalid --since "2026-02-30": .*YYYY-MM-DD/],
      [["stats", "--range", "7d", "--since", "2026-03-01"], /either --range or --since\/--until/],
      [["export", "--what", "calls"], /required option '--format <format>'/],
      [["export", "--format", "xml", "--out", out], /invalid --format "xml"/],
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
