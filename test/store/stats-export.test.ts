import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExportFilter, exportBatches, exportColumns } from "../../src/store/export-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";
import { insertStatsFixture } from "./stats-fixture.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await insertStatsFixture(db.sql);
});
afterAll(() => db.drop());

async function exported(what: "analyses" | "calls", filter: ExportFilter, batchSize = 2) {
  const exported = await exportColumns(db.sql, what);
  const columns = exported.map((c) => c.name);
  const batches: Record<string, unknown>[][] = [];
  for await (const batch of exportBatches(db.sql, what, exported, filter, batchSize)) {
    batches.push(batch.map((values) => Object.fromEntries(columns.map((name, i) => [name, values[i]]))));
  }
  return { columns, batches, rows: batches.flat() };
}

const callKey = (r: Record<string, unknown>) => `${r.analysis_id}/${r.call_type}#${r.attempt}`;

describe("export rows (stats-fixture.ts)", () => {
  it("exports every column but a call's output text, in table order, in cursor batches", async () => {
    const { columns, batches, rows } = await exported("calls", {});
    expect(rows[1]).toMatchObject({
      started_at: "2026-03-10T09:00:02.000Z",
      cost_usd: "0.001000000000",
      input_tokens: 1000,
      modality_tokens: '{"input": {}, "output": {}}',
      error_type: null,
    });
    expect(columns).not.toContain("output");
    expect(columns.slice(0, 5)).toEqual(["analysis_id", "call_type", "attempt", "model", "status"]);
    expect(batches.map((b) => b.length)).toEqual([2, 2, 2]);
    expect(Object.keys(rows[0] ?? {})).toEqual(columns);
    expect(rows.map(callKey)).toEqual([
      "fx-a1/indicator_summary#1",
      "fx-a1/indicator_summary#2",
      "fx-a1/final_decision#1",
      "fx-a2/indicator_summary#1",
      "fx-a2/final_decision#1",
      "fx-a3/indicator_summary#1",
    ]);
    const analyses = await exported("analyses", {});
    expect(analyses.columns.slice(0, 3)).toEqual(["id", "ticker", "status"]);
    expect(analyses.rows.map((r) => r.id)).toEqual(["fx-a1", "fx-a2", "fx-a3", "fx-a4"]);
  });

  it("filters calls by start time [since, until), ticker and call status", async () => {
    const window = await exported("calls", {
      since: new Date("2026-03-11T00:00:00Z"),
      until: new Date("2026-03-12T00:00:00Z"),
    });
    expect(window.rows.map(callKey)).toEqual(["fx-a2/indicator_summary#1"]);
    const reliance = await exported("calls", { ticker: "RELIANCE", status: "success" });
    expect(reliance.rows.map(callKey)).toEqual([
      "fx-a1/indicator_summary#2",
      "fx-a1/final_decision#1",
      "fx-a3/indicator_summary#1",
    ]);
    expect((await exported("calls", { ticker: "INFY" })).rows).toEqual([]);
  });

  it("filters analyses by creation time, ticker and status", async () => {
    const since = await exported("analyses", { since: new Date("2026-03-11T00:00:00Z") });
    expect(since.rows.map((r) => r.id)).toEqual(["fx-a2", "fx-a3", "fx-a4"]);
    const until = await exported("analyses", { until: new Date("2026-04-02T08:30:00Z") });
    expect(until.rows.map((r) => r.id)).toEqual(["fx-a1", "fx-a2", "fx-a3"]);
    const failed = await exported("analyses", { status: "failed" });
    expect(failed.rows.map((r) => [r.id, r.ticker])).toEqual([["fx-a4", "INFY"]]);
  });
});
