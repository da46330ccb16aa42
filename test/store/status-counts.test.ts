import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnalysisStatus } from "../../src/store/analyses-repo.js";
import { AnalysisStatusCounter, type StatusCounts } from "../../src/store/status-counts-repo.js";
import { createTestDatabase, type TestDatabase } from "../helpers/services.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

let serial = 0;
/** One analysis created `ago` before now (a Postgres interval), in `status`. */
async function insertAnalysis(ago: string, status: AnalysisStatus): Promise<string> {
  serial += 1;
  const id = `an-counts-${serial}`;
  await db.sql`
    INSERT INTO stock_analyses (id, ticker, model, status, created_at)
    VALUES (${id}, 'TCS', 'gemini-2.5-flash', ${status}, now() - ${ago}::interval)`;
  return id;
}

const setStatus = (id: string, status: AnalysisStatus) =>
  db.sql`UPDATE stock_analyses SET status = ${status} WHERE id = ${id}`;

/** What every read must equal: the GROUP BY over the whole table. */
async function wholeTable(): Promise<Partial<StatusCounts>> {
  const rows = await db.sql<{ status: AnalysisStatus; n: number }[]>`
    SELECT status, count(*)::int AS n FROM stock_analyses GROUP BY status`;
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

const nonZero = (counts: StatusCounts): Partial<StatusCounts> =>
  Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));

describe("AnalysisStatusCounter", () => {
  it("equals a GROUP BY over all analyses as open ones end, new ones arrive and queued ones are withdrawn", async () => {
    let now = 0;
    const counter = new AnalysisStatusCounter(db.sql, { baseMaxAgeMs: 60_000, now: () => now });
    expect(nonZero(await counter.read())).toEqual({});

    await insertAnalysis("3 days", "completed");
    await insertAnalysis("2 days", "failed");
    const oldRunning = await insertAnalysis("2 days", "running");
    const oldQueued = await insertAnalysis("30 hours", "queued");
    const oldQueued2 = await insertAnalysis("2 hours", "queued");
    const recent = await insertAnalysis("5 minutes", "running");
    now = 60_000; // a new base, which now holds the old rows
    expect(nonZero(await counter.read())).toEqual(await wholeTable());

    // Old analyses that were open when the base was taken end, or are withdrawn; new ones arrive:
    // every read sees it, without a new base.
    await setStatus(oldRunning, "partial");
    await setStatus(oldQueued, "budget_exceeded");
    await db.sql`DELETE FROM stock_analyses WHERE id = ${oldQueued2}`;
    await setStatus(recent, "completed");
    await insertAnalysis("0 seconds", "queued");
    expect(nonZero(await counter.read())).toEqual(await wholeTable());

    // Only an old row written behind the kept base's back waits for the next base.
    await insertAnalysis("4 days", "completed");
    expect((await counter.read()).completed).toBe(((await wholeTable()).completed ?? 0) - 1);
    now = 120_000;
    expect(nonZero(await counter.read())).toEqual(await wholeTable());
  });

  it("counts the whole table at every read when too many old analyses are open to track", async () => {
    let now = 0;
    const counter = new AnalysisStatusCounter(db.sql, { maxTrackedOpen: 1, now: () => now });
    const open = [await insertAnalysis("3 hours", "queued"), await insertAnalysis("3 hours", "running")];
    expect(nonZero(await counter.read())).toEqual(await wholeTable());
    for (const id of open) await setStatus(id, "completed");
    now += 1; // well inside baseMaxAgeMs: no new base
    expect(nonZero(await counter.read())).toEqual(await wholeTable());
  });
});
