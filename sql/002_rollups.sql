-- stock-ledger schema v2: stats rollups, written in the finalize transaction so they never
-- drift from stock_analyses / llm_calls.
--
-- An analysis, with all its calls, counts on the UTC day it started. Each finalized analysis
-- adds its calls to one row per dimension it falls under ('all', its ticker, each stage and
-- each model it called), at two grains: the day, and the month (so a long range reads a few
-- month rows plus the days at its edges). Call latency cannot be summed, so each row keeps
-- a histogram of call durations over fixed log-spaced buckets; percentiles come from merged
-- histograms.

-- Upper bounds of the latency buckets in ms: round(2^(k/4)), k = 0..80, deduplicated.
-- Bucket 0 holds durations below 1 ms, bucket i durations in [bound i, bound i+1), the last
-- bucket everything from 1,048,576 ms up. Changing these means rebuilding every rollup;
-- src/store/rollups-repo.ts keeps the same list for reading.
CREATE FUNCTION stats_latency_bounds() RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{1,2,3,4,5,6,7,8,10,11,13,16,19,23,27,32,38,45,54,64,76,91,108,128,152,181,215,256,304,362,431,512,609,724,861,1024,1218,1448,1722,2048,2435,2896,3444,4096,4871,5793,6889,8192,9742,11585,13777,16384,19484,23170,27554,32768,38968,46341,55109,65536,77936,92682,110218,131072,155872,185364,220436,262144,311744,370728,440872,524288,623487,741455,881744,1048576}'::integer[];

-- 0-based bucket of a duration; NULL when there is no duration.
CREATE FUNCTION stats_latency_bucket(ms integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN width_bucket(ms, stats_latency_bounds());

-- Element-wise sum of two histograms (either may be NULL or shorter).
CREATE FUNCTION stats_hist_add(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
  WHEN a IS NULL THEN b
  WHEN b IS NULL THEN a
  ELSE ARRAY(
    SELECT COALESCE(a[i], 0) + COALESCE(b[i], 0)
    FROM generate_series(1, GREATEST(cardinality(a), cardinality(b))) AS i ORDER BY i)
END;

CREATE AGGREGATE stats_hist_sum(integer[]) (SFUNC = stats_hist_add, STYPE = integer[]);

-- A full-length histogram from sparse (0-based bucket, count) pairs.
CREATE FUNCTION stats_hist_from_buckets(buckets integer[], counts bigint[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(
  SELECT COALESCE(counts[array_position(buckets, b)], 0)::integer
  FROM generate_series(0, cardinality(stats_latency_bounds())) AS b ORDER BY b);

CREATE TABLE stats_rollups (
  dimension           TEXT NOT NULL CHECK (dimension IN ('all', 'stage', 'model', 'ticker')),
  grain               TEXT NOT NULL CHECK (grain IN ('day', 'month')),
  -- The UTC day, or the first day of the month.
  period              DATE NOT NULL,
  -- Ticker, call type or model; '' for dimension 'all'.
  key                 TEXT NOT NULL,
  analyses            BIGINT NOT NULL,
  calls               BIGINT NOT NULL,
  failed_calls        BIGINT NOT NULL,
  -- Calls whose cost is NULL (unknown model): their tokens are counted, their cost is not.
  unpriced_calls      BIGINT NOT NULL,
  input_tokens        BIGINT NOT NULL,
  output_tokens       BIGINT NOT NULL,
  thinking_tokens     BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  total_tokens        BIGINT NOT NULL,
  cost_usd            NUMERIC(30, 12) NOT NULL,
  -- Counts per bucket of stats_latency_bounds(), over calls that ended (success or failure).
  latency_hist        INTEGER[] NOT NULL,
  latency_max_ms      INTEGER,
  PRIMARY KEY (dimension, grain, period, key)
);

-- Which analyses are in the rollups, and on which day: a second finalize of the same
-- analysis re-derives that day instead of adding it twice. No foreign key: rollups outlive
-- raw rows that are deleted later.
CREATE TABLE stats_rollup_marks (
  analysis_id  TEXT PRIMARY KEY,
  day          DATE NOT NULL,
  rolled_up_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX stats_rollup_marks_day_idx ON stats_rollup_marks (day, analysis_id);

-- Rollup rows (day grain) of the marked analyses on days [p_from, p_to], or of one of them.
CREATE FUNCTION stats_rollup_contributions(p_from date, p_to date, p_analysis text DEFAULT NULL)
RETURNS TABLE (
  dimension text, period date, key text, analyses bigint, calls bigint, failed_calls bigint,
  unpriced_calls bigint, input_tokens bigint, output_tokens bigint, thinking_tokens bigint,
  cached_input_tokens bigint, total_tokens bigint, cost_usd numeric, latency_hist integer[],
  latency_max_ms integer)
LANGUAGE plpgsql STABLE
-- One statement serves one analysis and a year of them: plan it for the arguments given.
SET plan_cache_mode = force_custom_plan
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH facts AS MATERIALIZED (
    SELECT m.analysis_id, m.day, d.dimension, d.key, c.status, c.input_tokens, c.output_tokens,
           c.thinking_tokens, c.cached_input_tokens, c.total_tokens, c.cost_usd,
           CASE WHEN c.status IN ('success', 'failure') THEN c.duration_ms END AS latency_ms
    FROM stats_rollup_marks m
    JOIN stock_analyses a ON a.id = m.analysis_id
    LEFT JOIN llm_calls c ON c.analysis_id = m.analysis_id
    CROSS JOIN LATERAL (VALUES ('all', ''), ('ticker', a.ticker), ('stage', c.call_type), ('model', c.model))
      AS d (dimension, key)
    WHERE m.day BETWEEN p_from AND p_to
      AND (p_analysis IS NULL OR m.analysis_id = p_analysis)
      AND d.key IS NOT NULL
  ),
  sums AS (
    SELECT f.day, f.dimension, f.key,
           count(DISTINCT f.analysis_id) AS analyses,
           count(f.status) AS calls,
           count(*) FILTER (WHERE f.status <> 'success') AS failed_calls,
           count(*) FILTER (WHERE f.status IS NOT NULL AND f.cost_usd IS NULL) AS unpriced_calls,
           COALESCE(sum(f.input_tokens), 0)::bigint AS input_tokens,
           COALESCE(sum(f.output_tokens), 0)::bigint AS output_tokens,
           COALESCE(sum(f.thinking_tokens), 0)::bigint AS thinking_tokens,
           COALESCE(sum(f.cached_input_tokens), 0)::bigint AS cached_input_tokens,
           COALESCE(sum(f.total_tokens), 0)::bigint AS total_tokens,
           COALESCE(sum(f.cost_usd), 0) AS cost_usd,
           max(f.latency_ms) AS latency_max_ms
    FROM facts f GROUP BY f.day, f.dimension, f.key
  ),
  bucket_counts AS (
    SELECT f.day, f.dimension, f.key, stats_latency_bucket(f.latency_ms) AS bucket, count(*) AS n
    FROM facts f WHERE f.latency_ms IS NOT NULL
    GROUP BY 1, 2, 3, 4
  ),
  hists AS (
    SELECT b.day, b.dimension, b.key, stats_hist_from_buckets(array_agg(b.bucket), array_agg(b.n)) AS hist
    FROM bucket_counts b GROUP BY 1, 2, 3
  )
  SELECT s.dimension, s.day, s.key, s.analyses, s.calls, s.failed_calls, s.unpriced_calls,
         s.input_tokens, s.output_tokens, s.thinking_tokens, s.cached_input_tokens, s.total_tokens,
         s.cost_usd, COALESCE(h.hist, stats_hist_from_buckets('{}', '{}')), s.latency_max_ms
  FROM sums s LEFT JOIN hists h USING (day, dimension, key);
END
$$;

-- Re-derives the rollups of days [p_from, p_to] (NULL: every marked day) and of their months
-- from the marked analyses' stored calls. Blocks concurrent finalizes' rollup writes meanwhile.
-- Calls older than the oldest month still stored are gone (`retention` drops whole months of
-- llm_calls): days before it that already have rollups keep them as they are.
CREATE FUNCTION stats_rebuild_rollups(p_from date DEFAULT NULL, p_to date DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_from date := p_from;
  v_to date := p_to;
  v_derivable date;
BEGIN
  IF v_from IS NULL OR v_to IS NULL THEN
    SELECT COALESCE(v_from, min(day)), COALESCE(v_to, max(day)) INTO v_from, v_to FROM stats_rollup_marks;
  END IF;
  IF v_from IS NULL THEN
    RETURN;
  END IF;
  LOCK TABLE stats_rollups IN EXCLUSIVE MODE;
  SELECT COALESCE(date_trunc('month', min(started_at) AT TIME ZONE 'UTC')::date, 'infinity')
  INTO v_derivable FROM llm_calls;
  DELETE FROM stats_rollups WHERE grain = 'day' AND period BETWEEN v_from AND v_to AND period >= v_derivable;
  INSERT INTO stats_rollups
  SELECT c.dimension, 'day', c.period, c.key, c.analyses, c.calls, c.failed_calls, c.unpriced_calls,
         c.input_tokens, c.output_tokens, c.thinking_tokens, c.cached_input_tokens, c.total_tokens,
         c.cost_usd, c.latency_hist, c.latency_max_ms
  FROM stats_rollup_contributions(v_from, v_to) c
  WHERE c.period >= v_derivable
     OR NOT EXISTS (SELECT 1 FROM stats_rollups r
                    WHERE r.dimension = 'all' AND r.grain = 'day' AND r.period = c.period);
  -- Months are sums of their days.
  v_from := date_trunc('month', v_from)::date;
  v_to := (date_trunc('month', v_to) + interval '1 month')::date;
  DELETE FROM stats_rollups WHERE grain = 'month' AND period >= v_from AND period < v_to;
  INSERT INTO stats_rollups
  SELECT r.dimension, 'month', date_trunc('month', r.period)::date, r.key, sum(r.analyses), sum(r.calls),
         sum(r.failed_calls), sum(r.unpriced_calls), sum(r.input_tokens), sum(r.output_tokens),
         sum(r.thinking_tokens), sum(r.cached_input_tokens), sum(r.total_tokens), sum(r.cost_usd),
         stats_hist_sum(r.latency_hist), max(r.latency_max_ms)
  FROM stats_rollups r
  WHERE r.grain = 'day' AND r.period >= v_from AND r.period < v_to
  GROUP BY 1, 3, 4;
END
$$;

-- Adds one finalized analysis to the rollups, in the caller's (finalize) transaction.
-- Returns 'added', or 'rebuilt' when it was already rolled up: its day is then re-derived
-- from the stored calls, so a second finalize never counts it twice.
CREATE FUNCTION stats_apply_analysis(p_analysis text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_day date;
  v_previous date;
BEGIN
  SELECT (COALESCE(started_at, created_at) AT TIME ZONE 'UTC')::date INTO v_day
  FROM stock_analyses WHERE id = p_analysis;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'analysis % does not exist', p_analysis USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO stats_rollup_marks (analysis_id, day) VALUES (p_analysis, v_day)
  ON CONFLICT (analysis_id) DO NOTHING;
  IF NOT FOUND THEN
    SELECT day INTO v_previous FROM stats_rollup_marks WHERE analysis_id = p_analysis FOR UPDATE;
    UPDATE stats_rollup_marks SET day = v_day, rolled_up_at = now() WHERE analysis_id = p_analysis;
    PERFORM stats_rebuild_rollups(v_day, v_day);
    IF v_previous <> v_day THEN
      PERFORM stats_rebuild_rollups(v_previous, v_previous);
    END IF;
    RETURN 'rebuilt';
  END IF;
  -- Rows in key order, so concurrent finalizes lock shared rows in the same order.
  INSERT INTO stats_rollups AS r
  SELECT c.dimension, g.grain,
         CASE g.grain WHEN 'day' THEN c.period ELSE date_trunc('month', c.period)::date END,
         c.key, c.analyses, c.calls, c.failed_calls, c.unpriced_calls, c.input_tokens, c.output_tokens,
         c.thinking_tokens, c.cached_input_tokens, c.total_tokens, c.cost_usd, c.latency_hist,
         c.latency_max_ms
  FROM stats_rollup_contributions(v_day, v_day, p_analysis) c
  CROSS JOIN (VALUES ('day'), ('month')) AS g (grain)
  ORDER BY 1, 2, 3, 4
  ON CONFLICT (dimension, grain, period, key) DO UPDATE SET
    analyses = r.analyses + EXCLUDED.analyses,
    calls = r.calls + EXCLUDED.calls,
    failed_calls = r.failed_calls + EXCLUDED.failed_calls,
    unpriced_calls = r.unpriced_calls + EXCLUDED.unpriced_calls,
    input_tokens = r.input_tokens + EXCLUDED.input_tokens,
    output_tokens = r.output_tokens + EXCLUDED.output_tokens,
    thinking_tokens = r.thinking_tokens + EXCLUDED.thinking_tokens,
    cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
    total_tokens = r.total_tokens + EXCLUDED.total_tokens,
    cost_usd = r.cost_usd + EXCLUDED.cost_usd,
    latency_hist = stats_hist_add(r.latency_hist, EXCLUDED.latency_hist),
    latency_max_ms = GREATEST(r.latency_max_ms, EXCLUDED.latency_max_ms);
  RETURN 'added';
END
$$;

-- Marks every analysis that had already ended before this migration and builds its rollups.
CREATE FUNCTION stats_backfill_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_rollup_marks (analysis_id, day)
  SELECT id, (COALESCE(started_at, created_at) AT TIME ZONE 'UTC')::date
  FROM stock_analyses
  WHERE status IN ('completed', 'partial', 'failed', 'budget_exceeded')
  ON CONFLICT (analysis_id) DO NOTHING;
  PERFORM stats_rebuild_rollups();
END
$$;

SELECT stats_backfill_rollups();
