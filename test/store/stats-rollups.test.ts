import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExecuteDeps, executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { logger } from "../../src/logger.js";
import { RollupFolder } from "../../src/store/rollup-folder.js";
import {
  applyRollups,
  backfillRollups,
  countPendingRollups,
  foldAllPendingRollups,
  foldPendingRollups,
  LATENCY_BOUNDS_MS,
  LATENCY_BUCKETS,
  latencyPercentile,
  rebuildRollups,
} from "../../src/store/rollups-repo.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

let h: PipelineHarness;
/** The harness' deps with a folder that waits a minute: what is pending stays pending until a test folds. */
let withoutFolding: ExecuteDeps;

beforeAll(async () => {
  h = await createPipelineHarness({ emulator: { latencyMs: 5, latencyJitterMs: 40 } });
  withoutFolding = { ...h.deps, rollupFolder: new RollupFolder(h.db.sql, logger, 60_000) };
});
afterAll(async () => {
  await withoutFolding.rollupFolder.close();
  await h.close();
});

interface RollupRow {
  dimension: string;
  grain: string;
  period: string;
  key: string;
  analyses: number;
  calls: number;
  failed_calls: number;
  unpriced_calls: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cached_input_tokens: number;
  total_tokens: number;
  cost_usd: string;
  latency_calls: number;
  latency_max_ms: number | null;
}

/** Rollup rows as stored (folded), or as readers see them: folded plus still pending. */
const rollups = (grain: "day" | "month", source: "stats_rollups" | "stats_rollups_live" = "stats_rollups") =>
  h.db.sql<RollupRow[]>`
  SELECT dimension, grain, to_char(period, 'YYYY-MM-DD') AS period, key, sum(analyses)::bigint AS analyses,
         sum(calls)::bigint AS calls, sum(failed_calls)::bigint AS failed_calls,
         sum(unpriced_calls)::bigint AS unpriced_calls, sum(input_tokens)::bigint AS input_tokens,
         sum(output_tokens)::bigint AS output_tokens, sum(thinking_tokens)::bigint AS thinking_tokens,
         sum(cached_input_tokens)::bigint AS cached_input_tokens, sum(total_tokens)::bigint AS total_tokens,
         sum(cost_usd)::numeric(30, 12)::text AS cost_usd,
         sum((SELECT COALESCE(sum(n), 0) FROM unnest(latency_hist) n))::int AS latency_calls,
         max(latency_max_ms) AS latency_max_ms
  FROM ${h.db.sql(source)} WHERE grain = ${grain}
  GROUP BY dimension, grain, period, key
  ORDER BY dimension, period, key`;

/** What every rollup row must be, summed straight from stock_analyses and llm_calls. */
const expectedFromSource = (grain: "day" | "month") => h.db.sql<RollupRow[]>`
  WITH ended AS (
    SELECT id, ticker, (COALESCE(started_at, created_at) AT TIME ZONE 'UTC')::date AS day
    FROM stock_analyses WHERE status IN ('completed', 'partial', 'failed', 'budget_exceeded')
  ), facts AS (
    SELECT e.id, CASE ${grain} WHEN 'day' THEN e.day ELSE date_trunc('month', e.day)::date END AS period,
           d.dimension, d.key, c.*
    FROM ended e LEFT JOIN llm_calls c ON c.analysis_id = e.id
    CROSS JOIN LATERAL (VALUES ('all', ''), ('ticker', e.ticker), ('stage', c.call_type), ('model', c.model))
      AS d (dimension, key)
    WHERE d.key IS NOT NULL
  )
  SELECT dimension, ${grain} AS grain, to_char(period, 'YYYY-MM-DD') AS period, key,
         count(DISTINCT id)::bigint AS analyses, count(status)::bigint AS calls,
         count(*) FILTER (WHERE status <> 'success')::bigint AS failed_calls,
         count(*) FILTER (WHERE status IS NOT NULL AND cost_usd IS NULL)::bigint AS unpriced_calls,
         COALESCE(sum(input_tokens), 0)::bigint AS input_tokens, COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
         COALESCE(sum(thinking_tokens), 0)::bigint AS thinking_tokens,
         COALESCE(sum(cached_input_tokens), 0)::bigint AS cached_input_tokens,
         COALESCE(sum(total_tokens), 0)::bigint AS total_tokens,
         COALESCE(sum(cost_usd), 0)::numeric(30, 12)::text AS cost_usd,
         (count(*) FILTER (WHERE status IN ('success', 'failure') AND duration_ms IS NOT NULL))::int AS latency_calls,
         max(duration_ms) FILTER (WHERE status IN ('success', 'failure')) AS latency_max_ms
  FROM facts GROUP BY dimension, period, key
  ORDER BY dimension, period, key`;

/** Exact while analyses are pending (as readers see them), and again once they are folded. */
async function expectRollupsMatchSource(): Promise<void> {
  const day = await expectedFromSource("day");
  const month = await expectedFromSource("month");
  expect(await rollups("day", "stats_rollups_live")).toEqual(day);
  expect(await rollups("month", "stats_rollups_live")).toEqual(month);
  await foldAllPendingRollups(h.db.sql);
  expect(await countPendingRollups(h.db.sql)).toBe(0);
  expect(await rollups("day")).toEqual(day);
  expect(await rollups("month")).toEqual(month);
}

describe("stats rollups written by finalize", () => {
  it("equal the sums over llm_calls after real analyses, retries and failures included", async () => {
    h.emulator.setFaults([
      { kind: "rate_limited", callType: "indicator_summary", attempt: 1, retryDelaySeconds: 0.01 },
      { kind: "bad_schema", callType: "final_decision", attempt: 1 },
    ]);
    const ids = await Promise.all(["RELIANCE", "TCS", "INFY", "RELIANCE"].map((t) => h.queue(t)));
    // Concurrent finalizes upsert the same 'all' and stage rows: no deadlock, no lost update.
    const rows = await Promise.all(ids.map((id) => executeAnalysis(id, withoutFolding)));
    expect(rows.map((r) => r?.status)).toEqual(["completed", "completed", "completed", "completed"]);
    h.emulator.setFaults([]);
    const unknown = await h.queue("NOSUCHCO");
    expect((await executeAnalysis(unknown, withoutFolding))?.status).toBe("failed");

    await expectRollupsMatchSource();
    const [all] = await h.db.sql<{ analyses: number; calls: number; failed_calls: number }[]>`
      SELECT analyses, calls, failed_calls FROM stats_rollups WHERE dimension = 'all' AND grain = 'day'`;
    // 4 analyses × (6 stages + a 429 retry + a schema retry) and one with no calls.
    expect(all).toEqual({ analyses: 5, calls: 32, failed_calls: 8 });
    const marks = await h.db.sql`SELECT analysis_id FROM stats_rollup_marks`;
    expect(marks.map((m) => m.analysis_id).sort()).toEqual([...ids, unknown].sort());
  });

  it("re-derives instead of adding again when an analysis is finalized twice, even with new calls", async () => {
    const [id] = await h.db.sql<{ id: string }[]>`SELECT id FROM stock_analyses WHERE ticker = 'TCS'`;
    if (!id) throw new Error("no TCS analysis");
    expect(await h.db.sql.begin((tx) => applyRollups(tx, id.id))).toBe("rebuilt");
    await expectRollupsMatchSource();
    // A call found after the first finalize (e.g. a late write) is counted once, by the second.
    await h.db.sql`
      INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
        total_tokens, usage_source, started_at, duration_ms, cost_usd)
      VALUES (${id.id}, 'volume_analysis', 9, 'gemini-2.5-flash', 'success', 70, 30, 100, 'provider', now(), 123,
        0.0000021)`;
    expect(await h.db.sql.begin((tx) => applyRollups(tx, id.id))).toBe("rebuilt");
    await expectRollupsMatchSource();
  });

  it("leaves finalized analyses pending, then folds them in batches, each counted once", async () => {
    const before = await rollups("day");
    const ids = await Promise.all(["TCS", "INFY", "WIPRO"].map((t) => h.queue(t)));
    await Promise.all(ids.map((id) => executeAnalysis(id, withoutFolding)));
    // The finalize transaction wrote no rollup row, only the pending marks ...
    expect(await rollups("day")).toEqual(before);
    expect(await countPendingRollups(h.db.sql)).toBe(3);
    // ... and finalizing one again before it is folded still counts it once.
    expect(await h.db.sql.begin((tx) => applyRollups(tx, ids[0] ?? ""))).toBe("added");
    expect(await foldPendingRollups(h.db.sql, 2)).toBe(2);
    expect(await countPendingRollups(h.db.sql)).toBe(1);
    await expectRollupsMatchSource();
  });

  it("lets one session fold at a time; the others step aside", async () => {
    const id = await h.queue("TCS");
    await executeAnalysis(id, withoutFolding);
    await h.db.sql.begin(async (tx) => {
      const [held] = await tx<{ folded: number | null }[]>`SELECT stats_fold_pending(500) AS folded`;
      expect(held?.folded).toBe(1);
      // While that fold is uncommitted, another session does not wait on it.
      expect(await foldPendingRollups(h.db.sql)).toBeNull();
    });
    expect(await countPendingRollups(h.db.sql)).toBe(0);
    await expectRollupsMatchSource();
  });

  it("stays exact while finalizes and small, frequent folds from two folders interleave", async () => {
    const folders = [new RollupFolder(h.db.sql, logger, 1, 3), new RollupFolder(h.db.sql, logger, 2, 2)];
    const tickers = ["TCS", "INFY", "RELIANCE", "AAPL", "MSFT", "HDFCBANK"];
    const ids = await Promise.all(
      Array.from({ length: 24 }, (_, i) => h.queue(tickers[i % tickers.length] ?? "TCS")),
    );
    await Promise.all(
      ids.map((id, i) => executeAnalysis(id, { ...h.deps, rollupFolder: folders[i % 2] as RollupFolder })),
    );
    for (const folder of folders) await folder.close();
    await expectRollupsMatchSource();
  });

  it("folds after a worker's finalizes without being asked", async () => {
    const id = await h.queue("INFY");
    await executeAnalysis(id, h.deps);
    await expect.poll(() => countPendingRollups(h.db.sql), { timeout: 5000 }).toBe(0);
    await expectRollupsMatchSource();
  });

  it("rebuilds and backfills to the same rows", async () => {
    const before = await rollups("day");
    await rebuildRollups(h.db.sql);
    expect(await rollups("day")).toEqual(before);
    // An analysis ended outside finalize (e.g. before migration 002) is picked up by the backfill.
    const id = await h.queue("RELIANCE");
    await h.db.sql`UPDATE stock_analyses SET status = 'failed', started_at = now() WHERE id = ${id}`;
    await h.db.sql`
      INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
        total_tokens, usage_source, started_at, duration_ms, cost_usd)
      VALUES (${id}, 'indicator_summary', 1, 'gemini-2.5-flash', 'failure', 10, 0, 10, 'provider', now(), 9, 0.000003)`;
    await backfillRollups(h.db.sql);
    await backfillRollups(h.db.sql);
    await expectRollupsMatchSource();
  });
});

describe("latency histogram", () => {
  it("uses the bucket bounds the database uses", async () => {
    const [row] = await h.db.sql<{ bounds: number[] }[]>`SELECT stats_latency_bounds() AS bounds`;
    expect(row?.bounds).toEqual(LATENCY_BOUNDS_MS);
    const samples = [0, 1, 7, 8, 9, 10, 1000, 1023, 1024, 1_048_575, 1_048_576, 5_000_000];
    const buckets = await h.db.sql<{ b: number }[]>`
      SELECT stats_latency_bucket(ms) AS b FROM unnest(${samples}::int[]) WITH ORDINALITY AS s(ms, i) ORDER BY i`;
    const local = samples.map((ms) => LATENCY_BOUNDS_MS.filter((bound) => bound <= ms).length);
    expect(buckets.map((r) => r.b)).toEqual(local);
    expect(Math.max(...local)).toBe(LATENCY_BUCKETS - 1);
  });

  it("estimates percentiles within the bucket holding the true value", () => {
    const durations = Array.from({ length: 1000 }, (_, i) => 200 + ((i * 7919) % 4000));
    const hist = new Array<number>(LATENCY_BUCKETS).fill(0);
    for (const ms of durations) {
      const bucket = LATENCY_BOUNDS_MS.filter((bound) => bound <= ms).length;
      hist[bucket] = (hist[bucket] ?? 0) + 1;
    }
    const sorted = [...durations].sort((a, b) => a - b);
    for (const p of [0.5, 0.95]) {
      const exact = sorted[Math.ceil(p * sorted.length) - 1] ?? 0;
      const estimate = latencyPercentile(hist, p, Math.max(...durations)) ?? 0;
      expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.2);
    }
    expect(latencyPercentile(new Array(LATENCY_BUCKETS).fill(0), 0.5, null)).toBeNull();
    // The open last bucket is closed by the largest duration seen: 3 samples in
    // [1,048,576, 2,000,000]; rank 3 reads at 1,048,576 + 951,424 × 2.5 / 3 = 1,841,429.
    const top = new Array<number>(LATENCY_BUCKETS).fill(0);
    top[LATENCY_BUCKETS - 1] = 3;
    expect(latencyPercentile(top, 0.95, 2_000_000)).toBe(1_841_429);
  });
});
