/**
 * The ledger the stats and export benches read: `scale` × 1,000,000 analyses over the last 365
 * days and about 7 calls each (6 stages; one stage in six needs a retry after a 429), with their
 * rollups, in a dedicated database. Everything is generated inside Postgres with
 * generate_series (INSERT … SELECT), deterministic from the analysis number, in chunks run on
 * two connections. A database already holding a finished run of the same scale is reused.
 */

import { resolvePrice } from "../src/ledger/price-table.js";
import { logger } from "../src/logger.js";
import { createSql, type Sql, splitDatabaseUrl } from "../src/store/database.js";
import { migrate } from "../src/store/migrate.js";

export const PG_SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
export const TICKER_COUNT = 200;
const CHUNK = 50_000;

const MODELS = [
  { model: "gemini-2.5-flash", share: 0.7 },
  { model: "gemini-2.5-pro", share: 0.2 },
  { model: "gemini-2.5-flash-lite", share: 0.1 },
];

export interface BenchData {
  url: string;
  sql: Sql;
  analyses: number;
  calls: number;
  /** Seconds per phase; empty when an existing database was reused. */
  timings: Record<string, number>;
}

export const benchDatabaseUrl = (scale: number) =>
  `${PG_SERVER}/stock_ledger_bench_${String(scale).replace(".", "_")}`;

async function timed<T>(timings: Record<string, number>, phase: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  timings[phase] = (performance.now() - started) / 1000;
  process.stderr.write(`  ${phase}: ${timings[phase]?.toFixed(1)} s\n`);
  return result;
}

/** Runs `work(lo, hi)` over 1..total in chunks, two at a time (this machine has two cores). */
async function inChunks(total: number, work: (lo: number, hi: number) => Promise<unknown>): Promise<void> {
  let next = 1;
  const lane = async () => {
    while (next <= total) {
      const lo = next;
      const hi = Math.min(total, lo + CHUNK - 1);
      next = hi + 1;
      await work(lo, hi);
    }
  };
  await Promise.all([lane(), lane()]);
}

/** The SQL helpers that turn an analysis number into its row and its calls. */
async function createGenerators(sql: Sql, epoch: Date): Promise<void> {
  const rates = MODELS.map(({ model }, idx) => {
    const resolved = resolvePrice(model, epoch);
    if (!resolved) throw new Error(`no price for ${model}`);
    const card = resolved.price.standard;
    return `(${idx}, '${model}', ${card.input}, ${card.output}, ${card.cachedInput}, '${resolved.version}')`;
  });
  const realTickers = [
    "RELIANCE",
    "TCS",
    "INFY",
    "HDFCBANK",
    "ICICIBANK",
    "SBIN",
    "ITC",
    "LT",
    "AAPL",
    "MSFT",
  ];
  // llm_calls is partitioned by month: a year of history needs its months (as a real ledger has).
  await sql`
    SELECT llm_calls_ensure_partitions((${epoch}::timestamptz - interval '366 days')::date,
                                       (${epoch}::timestamptz + interval '3 months')::date)`;
  await sql.unsafe(`
    CREATE TABLE bench_meta (scale numeric, analyses bigint, calls bigint, finished_at timestamptz);
    CREATE TABLE bench_models (idx int PRIMARY KEY, model text, rin numeric, rout numeric, rcached numeric, version text);
    INSERT INTO bench_models VALUES ${rates.join(", ")};
    CREATE TABLE bench_tickers (idx int PRIMARY KEY, ticker text);
    INSERT INTO bench_tickers
      SELECT n - 1, COALESCE((ARRAY['${realTickers.join("','")}'])[n], 'TICK' || lpad(n::text, 3, '0'))
      FROM generate_series(1, ${TICKER_COUNT}) n;
    -- Uniform [0, 1) from the analysis number and a slot, so every figure is reproducible.
    CREATE FUNCTION bench_r(i bigint, k int) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN (hashint8(i * 128 + k) & 2147483647)::float8 / 2147483648.0;
    CREATE FUNCTION bench_model(i bigint) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN CASE WHEN bench_r(i, 2) < ${MODELS[0]?.share} THEN 0
                  WHEN bench_r(i, 2) < ${(MODELS[0]?.share ?? 0) + (MODELS[1]?.share ?? 0)} THEN 1 ELSE 2 END;
    CREATE FUNCTION bench_started(i bigint) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN '${epoch.toISOString()}'::timestamptz - bench_r(i, 4) * interval '365 days';
    -- The calls of analysis i: per stage a success, after a failed 429 attempt for one stage in six.
    CREATE FUNCTION bench_calls(i bigint)
    RETURNS TABLE (call_type text, attempt int, status text, input_tokens int, output_tokens int,
      thinking_tokens int, cached_input_tokens int, started_at timestamptz, duration_ms int)
    LANGUAGE sql IMMUTABLE AS $$
      SELECT st.name, a.n,
        CASE WHEN a.n < a.total THEN 'failure' ELSE 'success' END,
        CASE WHEN a.n < a.total THEN 0 ELSE 1200 + floor(bench_r(i, 20 + st.s) * 2400)::int + st.extra END,
        CASE WHEN a.n < a.total THEN 0
             ELSE 200 + floor(bench_r(i, 40 + st.s) * 800)::int
                  + CASE WHEN bench_model(i) = 2 THEN 0 ELSE floor(bench_r(i, 50 + st.s) * 600)::int END END,
        CASE WHEN a.n < a.total OR bench_model(i) = 2 THEN 0 ELSE floor(bench_r(i, 50 + st.s) * 600)::int END,
        CASE WHEN a.n < a.total OR bench_r(i, 30 + st.s) >= 0.3 THEN 0 ELSE 1024 END,
        bench_started(i) + st.offset_s * interval '1 second' + (a.n - 1) * interval '1 second',
        CASE WHEN a.n < a.total THEN 50 + floor(bench_r(i, 70 + st.s) * 150)::int
             ELSE 300 + floor(power(bench_r(i, 60 + st.s), 3) * 15000)::int END
      FROM (VALUES (0, 'indicator_summary', 0, 1), (1, 'comprehensive_overview', 0, 1),
                   (2, 'volume_analysis', 0, 1), (3, 'reversal_patterns', 0, 1),
                   (4, 'continuation_levels', 0, 1), (5, 'final_decision', 3000, 9)) AS st (s, name, extra, offset_s)
      CROSS JOIN LATERAL (
        SELECT n, CASE WHEN bench_r(i, 10 + st.s) < 1 / 6.0 THEN 2 ELSE 1 END AS total
        FROM generate_series(1, CASE WHEN bench_r(i, 10 + st.s) < 1 / 6.0 THEN 2 ELSE 1 END) n) a
    $$;
  `);
}

const COST = `round(((c.input_tokens - c.cached_input_tokens) * m.rin + c.cached_input_tokens * m.rcached
  + c.output_tokens * m.rout) / 1000000, 12)`;

async function insertAnalyses(sql: Sql, lo: number, hi: number): Promise<void> {
  await sql.unsafe(`
    SET synchronous_commit = off;
    INSERT INTO stock_analyses (id, ticker, status, model, created_at, started_at, completed_at, duration_ms,
      total_input_tokens, total_output_tokens, total_tokens, llm_calls_count, thinking_tokens,
      cached_input_tokens, failed_calls_count, cost_usd, market_data_source, runs)
    SELECT 'bench-' || i, t.ticker,
      CASE WHEN bench_r(i, 3) < 0.02 THEN 'failed' WHEN bench_r(i, 3) < 0.05 THEN 'partial' ELSE 'completed' END,
      m.model, bench_started(i) - interval '1 second', bench_started(i), bench_started(i) + interval '14 seconds',
      14000, s.input, s.output, s.input + s.output, s.calls, s.thinking, s.cached, s.failed, s.cost,
      'synthetic (bench)', 1
    FROM generate_series(${lo}::bigint, ${hi}::bigint) i
    JOIN bench_models m ON m.idx = bench_model(i)
    JOIN bench_tickers t ON t.idx = (hashint8(i * 128 + 1) & 2147483647) % ${TICKER_COUNT}
    CROSS JOIN LATERAL (
      SELECT sum(c.input_tokens)::int AS input, sum(c.output_tokens)::int AS output,
             sum(c.thinking_tokens)::int AS thinking, sum(c.cached_input_tokens)::int AS cached,
             count(*)::int AS calls, count(*) FILTER (WHERE c.status <> 'success')::int AS failed,
             sum(${COST}) AS cost
      FROM bench_calls(i) c) s;
  `);
}

async function insertCalls(sql: Sql, lo: number, hi: number): Promise<void> {
  await sql.unsafe(`
    SET synchronous_commit = off;
    INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
      thinking_tokens, cached_input_tokens, total_tokens, usage_source, error_type, error_message, started_at,
      duration_ms, cost_usd, price_version, price_tier, input_chars, output_chars, raw_usage, modality_tokens)
    SELECT 'bench-' || i, c.call_type, c.attempt, m.model, c.status, c.input_tokens, c.output_tokens,
      c.thinking_tokens, c.cached_input_tokens, c.input_tokens + c.output_tokens,
      CASE c.status WHEN 'success' THEN 'provider' ELSE 'none' END,
      CASE c.status WHEN 'success' THEN NULL ELSE 'rate_limited' END,
      CASE c.status WHEN 'success' THEN NULL ELSE '429 Too Many Requests: quota exceeded, retry in 2s' END,
      c.started_at, c.duration_ms, ${COST}, m.version, 'standard', c.input_tokens * 4, c.output_tokens * 4,
      CASE c.status WHEN 'success' THEN jsonb_build_object(
        'promptTokenCount', c.input_tokens, 'cachedContentTokenCount', c.cached_input_tokens,
        'candidatesTokenCount', c.output_tokens - c.thinking_tokens, 'thoughtsTokenCount', c.thinking_tokens,
        'totalTokenCount', c.input_tokens + c.output_tokens) END,
      jsonb_build_object('input', jsonb_build_object('TEXT', c.input_tokens),
                         'output', jsonb_build_object('TEXT', c.output_tokens - c.thinking_tokens))
    FROM generate_series(${lo}::bigint, ${hi}::bigint) i
    JOIN bench_models m ON m.idx = bench_model(i)
    CROSS JOIN LATERAL bench_calls(i) c;
  `);
}

async function finishedRun(url: string, scale: number): Promise<{ analyses: number; calls: number } | null> {
  const sql = createSql(url, { max: 1 });
  try {
    const [meta] = await sql<{ scale: string; analyses: number; calls: number }[]>`
      SELECT scale::text, analyses, calls FROM bench_meta WHERE finished_at IS NOT NULL`;
    return meta && Number(meta.scale) === scale ? meta : null;
  } catch {
    return null;
  } finally {
    await sql.end();
  }
}

async function dropDatabase(url: string): Promise<void> {
  const { name, maintenanceUrl } = splitDatabaseUrl(url);
  const admin = createSql(maintenanceUrl, { max: 1 });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** The bench database for `scale`, generated unless a finished one exists (or `fresh`). */
export async function ensureBenchData(options: { scale: number; fresh?: boolean }): Promise<BenchData> {
  const url = benchDatabaseUrl(options.scale);
  const existing = options.fresh ? null : await finishedRun(url, options.scale);
  if (existing) {
    process.stderr.write(`reusing ${splitDatabaseUrl(url).name} (${existing.analyses} analyses)\n`);
    return { url, sql: createSql(url, { max: 4 }), ...existing, timings: {} };
  }
  const total = Math.round(options.scale * 1_000_000);
  process.stderr.write(
    `generating ${total.toLocaleString("en-US")} analyses in ${splitDatabaseUrl(url).name}\n`,
  );
  const timings: Record<string, number> = {};
  await dropDatabase(url);
  await timed(timings, "create and migrate", () => migrate(url, logger));
  const sql = createSql(url, { max: 4 });
  const epoch = new Date();
  await createGenerators(sql, epoch);
  await timed(timings, "analyses", () => inChunks(total, (lo, hi) => insertAnalyses(sql, lo, hi)));
  await timed(timings, "calls", () => inChunks(total, (lo, hi) => insertCalls(sql, lo, hi)));
  await timed(timings, "rollups (stats_backfill_rollups)", () => sql`SELECT stats_backfill_rollups()`);
  await timed(timings, "vacuum analyze", () => sql.unsafe("VACUUM ANALYZE"));
  const [counts] = await sql<{ analyses: number; calls: number }[]>`
    SELECT (SELECT count(*) FROM stock_analyses) AS analyses, (SELECT count(*) FROM llm_calls) AS calls`;
  const analyses = counts?.analyses ?? 0;
  const calls = counts?.calls ?? 0;
  await sql`INSERT INTO bench_meta VALUES (${options.scale}, ${analyses}, ${calls}, now())`;
  timings.total = Object.values(timings).reduce((sum, s) => sum + s, 0);
  return { url, sql, analyses, calls, timings };
}
