import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenTotals } from "../../src/ledger/token-tracker.js";
import { logger } from "../../src/logger.js";
import { type AnalysisOutcome, type AnalysisStatus, unclaimedReason } from "../../src/store/analyses-repo.js";
import { AnalysisWriter } from "../../src/store/analysis-writer.js";
import { createTestDatabase, insertTestAnalysis, type TestDatabase } from "../helpers/services.js";

let db: TestDatabase;
let writer: AnalysisWriter;

beforeAll(async () => {
  db = await createTestDatabase();
  writer = new AnalysisWriter(db.sql, logger);
});
afterAll(async () => {
  await writer.drain();
  await db.drop();
});

async function queued(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await insertTestAnalysis(db.sql, { stem: "aw" }));
  return ids;
}

const totals: TokenTotals = {
  calls: 6,
  successfulCalls: 6,
  failedCalls: 0,
  inputTokens: 600,
  outputTokens: 60,
  thinkingTokens: 0,
  cachedInputTokens: 0,
  totalTokens: 660,
  durationMs: 0,
  costPico: 1_500_000n,
  modalityTokens: { input: {}, output: {} },
  batchCalls: 0,
  batchSavedPico: 0n,
};

function outcome(id: string, leaseOwner: string, status: AnalysisStatus = "completed"): AnalysisOutcome {
  return {
    id,
    leaseOwner,
    status,
    totals,
    breakdown: { final_decision: { calls: 1 } as never },
    decision: { action: "BUY" },
    error: null,
    marketDataSource: "sample",
    dataHash: "abc",
  };
}

const claim = (id: string, owner: string) => writer.claim({ id, owner, leaseMs: 30_000 });

describe("AnalysisWriter", () => {
  it("claims many analyses in one statement, each for its own owner", async () => {
    const ids = await queued(40);
    const rows = await Promise.all(ids.map((id, i) => claim(id, `owner-${i}`)));
    expect(rows.map((r) => r?.lease_owner)).toEqual(ids.map((_, i) => `owner-${i}`));
    expect(rows.every((r) => r?.status === "running" && r.runs === 1)).toBe(true);
    // now() is the transaction's start: claims that shared a statement share started_at.
    const startedAt = new Set(rows.map((r) => r?.started_at?.getTime()));
    expect(startedAt.size).toBeLessThan(5);
  });

  it("lets only one of two simultaneous claims on an analysis win, and tells the loser why", async () => {
    const [id] = (await queued(1)) as [string];
    const [a, b] = await Promise.all([claim(id, "first"), claim(id, "second")]);
    expect([a, b].filter((r) => r !== null)).toHaveLength(1);
    const winner = (a ?? b)?.lease_owner;
    const loser = winner === "first" ? "second" : "first";
    expect(await claim(id, loser)).toBeNull();
    expect((await unclaimedReason(db.sql, id)).kind).toBe("busy");
  });

  it("finalizes many analyses in one statement and marks each for the rollups once", async () => {
    const ids = await queued(30);
    await Promise.all(ids.map((id) => claim(id, `run-${id}`)));
    const rows = await Promise.all(ids.map((id) => writer.finalize(outcome(id, `run-${id}`))));
    expect(
      rows.every((r) => r?.status === "completed" && r.total_tokens === 660 && r.lease_owner === null),
    ).toBe(true);
    expect(rows[0]?.cost_usd).toBe("0.000001500000");
    expect(rows[0]?.decision).toEqual({ action: "BUY" });
    expect(new Set(rows.map((r) => r?.completed_at?.getTime())).size).toBeLessThan(5);
    const [marks] = await db.sql<{ marks: number; pending: number }[]>`
      SELECT (SELECT count(*) FROM stats_rollup_marks WHERE analysis_id = ANY(${ids}))::int AS marks,
             (SELECT count(*) FROM stats_rollup_pending WHERE analysis_id = ANY(${ids}))::int AS pending`;
    expect(marks).toEqual({ marks: 30, pending: 30 });
    // Ended: a second finalize changes nothing, and no run is claimed again.
    expect(await writer.finalize(outcome(ids[0] as string, `run-${ids[0]}`, "failed"))).toBeNull();
    expect(await claim(ids[0] as string, "late")).toBeNull();
    expect(await unclaimedReason(db.sql, ids[0] as string)).toMatchObject({
      kind: "ended",
      row: { status: "completed" },
    });
  });

  it("refuses a finalize from a run that does not hold the lease", async () => {
    const [id] = (await queued(1)) as [string];
    await claim(id, "holder");
    expect(await writer.finalize(outcome(id, "intruder"))).toBeNull();
    const [row] = await db.sql`SELECT status, lease_owner FROM stock_analyses WHERE id = ${id}`;
    expect(row).toEqual({ status: "running", lease_owner: "holder" });
    const pending = await db.sql`SELECT 1 FROM stats_rollup_pending WHERE analysis_id = ${id}`;
    expect(pending).toHaveLength(0);
  });

  it("fails only the bad write of a batch; the others that shared its statement are written", async () => {
    const ids = await queued(6);
    await Promise.all(ids.map((id) => claim(id, "run")));
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        writer.finalize(outcome(id, "run", i === 2 ? ("bogus" as AnalysisStatus) : "completed")),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
      "fulfilled",
    ]);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/check constraint/);
    const rows = await db.sql<{ id: string; status: string }[]>`
      SELECT id, status FROM stock_analyses WHERE id = ANY(${ids}) ORDER BY id`;
    expect(rows.filter((r) => r.status === "completed")).toHaveLength(5);
    expect(rows.find((r) => r.id === ids[2])?.status).toBe("running");
  });
});
