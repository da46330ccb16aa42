import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropOldCallPartitions,
  ensureCallPartitions,
  listCallPartitions,
} from "../../src/store/partitions-repo.js";
import { runCli } from "../helpers/cli.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

async function insertCall(analysisId: string, startedAt: string) {
  await db.sql`INSERT INTO stock_analyses (id, ticker, model) VALUES (${analysisId}, 'TCS', 'gemini-2.5-flash')
    ON CONFLICT DO NOTHING`;
  const [row] = await db.sql<{ partition: string }[]>`
    INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, usage_source, started_at, total_tokens)
    VALUES (${analysisId}, 'indicator_summary', 1, 'gemini-2.5-flash', 'success', 'provider', ${startedAt}, 100)
    RETURNING tableoid::regclass::text AS partition`;
  return row?.partition;
}

describe("llm_calls partitioned by month", () => {
  it("is a partitioned table with this month and the next three ready", async () => {
    const [kind] = await db.sql`SELECT relkind FROM pg_class WHERE relname = 'llm_calls'`;
    expect(kind?.relkind).toBe("p");
    const now = new Date();
    const names = (await listCallPartitions(db.sql)).map((p) => p.name);
    for (let ahead = 0; ahead <= 3; ahead++) {
      const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + ahead, 1));
      const name = `llm_calls_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
      expect(names).toContain(name);
    }
    expect(await ensureCallPartitions(db.sql)).toBe(0); // idempotent
  });

  it("routes rows by UTC month, and the retention command drops whole old months", async () => {
    await db.sql`SELECT llm_calls_ensure_partitions('2024-01-01', '2024-03-01')`;
    expect(await insertCall("an-old-1", "2024-01-31T23:59:59Z")).toBe("llm_calls_y2024m01");
    expect(await insertCall("an-old-2", "2024-02-01T00:00:00Z")).toBe("llm_calls_y2024m02");
    const current = await insertCall("an-new", new Date().toISOString());
    expect(current).toMatch(/^llm_calls_y\d{4}m\d{2}$/);

    const dry = await runCli(["retention", "--keep-months", "6", "--dry-run", "--json"], {
      DATABASE_URL: db.url,
    });
    expect(dry.code, dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout).dropped.map((p: { partition: string }) => p.partition);
    expect(planned).toEqual(["llm_calls_y2024m01", "llm_calls_y2024m02", "llm_calls_y2024m03"]);
    expect((await db.sql`SELECT count(*)::int AS n FROM llm_calls`)[0]?.n).toBe(3);

    const dropped = await dropOldCallPartitions(db.sql, { keepMonths: 6 });
    expect(dropped.map((p) => [p.name, p.rows])).toEqual([
      ["llm_calls_y2024m01", 1],
      ["llm_calls_y2024m02", 1],
      ["llm_calls_y2024m03", 0],
    ]);
    const left = await db.sql`SELECT analysis_id FROM llm_calls`;
    expect(left.map((r) => r.analysis_id)).toEqual(["an-new"]);
    // The analyses themselves (and their totals) stay.
    expect((await db.sql`SELECT count(*)::int AS n FROM stock_analyses`)[0]?.n).toBe(3);

    const refused = await runCli(["retention", "--keep-months", "0"], { DATABASE_URL: db.url });
    expect(refused.code).toBe(2);
  });
});
