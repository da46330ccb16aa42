-- stock-ledger schema v9: what reuse and caching saved, in the stats rollups.
--
-- Reuse: an analysis' tokens_saved / cost_saved_usd count once per analysis under 'all', its
-- ticker and its model; under 'stage', each stage's own figures from token_usage_breakdown.
-- Caching: each call's cached input tokens × (input rate − cached-input rate) of the price
-- version and tier that priced it (src/store/savings-repo.ts cacheSavingPerToken).

ALTER TABLE stats_rollups
  ADD COLUMN tokens_saved         BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN reuse_cost_saved_usd NUMERIC(24, 12) NOT NULL DEFAULT 0,
  ADD COLUMN cache_cost_saved_usd NUMERIC(24, 12) NOT NULL DEFAULT 0;

-- USD saved per cached token, by price version, model and tier ('standard' or 'long_context';
-- a model without long-context rates repeats its standard saving). Mirrors the price book in
-- src/ledger/prices/: a new price version needs a migration adding its rows
-- (test/store/stats-savings.test.ts fails until it has them).
CREATE TABLE stats_cache_rates (
  version          TEXT NOT NULL,
  model            TEXT NOT NULL,
  tier             TEXT NOT NULL CHECK (tier IN ('standard', 'long_context')),
  saving_per_token NUMERIC(24, 12) NOT NULL CHECK (saving_per_token >= 0),
  PRIMARY KEY (version, model, tier)
);

INSERT INTO stats_cache_rates (version, model, tier, saving_per_token)
SELECT 'gemini-2025-12', m.model, t.tier,
       GREATEST(CASE t.tier WHEN 'standard' THEN m.std ELSE COALESCE(m.long, m.std) END, 0) / 1000000
FROM (VALUES
  ('gemini-3-pro-preview', 2.00 - 0.20, 4.00 - 0.40),
  ('gemini-3-flash-preview', 0.50 - 0.05, NULL),
  ('gemini-2.5-pro', 1.25 - 0.125, 2.50 - 0.25),
  ('gemini-2.5-flash', 0.30 - 0.03, NULL),
  ('gemini-2.5-flash-lite', 0.10 - 0.01, NULL),
  ('gemini-2.0-flash', 0.10 - 0.025, NULL),
  ('gemini-2.0-flash-lite', 0.075 - 0.075, NULL)
) AS m (model, std, long)
CROSS JOIN (VALUES ('standard'), ('long_context')) AS t (tier);

-- USD one call's cached tokens saved; 0 for an unknown version or model. The model name is
-- matched as the price book does: exactly, else the longest known name it starts with.
CREATE FUNCTION stats_cache_saving(p_model text, p_version text, p_tier text, p_cached bigint)
RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN p_cached > 0 AND p_version IS NOT NULL THEN COALESCE((
  SELECT r.saving_per_token * p_cached
  FROM stats_cache_rates r
  WHERE r.version = p_version
    AND r.tier = CASE WHEN p_tier = 'long_context' THEN 'long_context' ELSE 'standard' END
    AND r.model = (
      SELECT n.model FROM stats_cache_rates n
      WHERE n.model = p_model OR starts_with(p_model, n.model || '-')
      ORDER BY n.model = p_model DESC, length(n.model) DESC
      LIMIT 1)), 0)
  ELSE 0 END;

-- The result gains columns, which CREATE OR REPLACE cannot do.
DROP FUNCTION stats_rollup_contributions(date, date, text);

-- Rollup rows (day grain) of the marked analyses on days [p_from, p_to], or of one of them.
CREATE FUNCTION stats_rollup_contributions(p_from date, p_to date, p_analysis text DEFAULT NULL)
RETURNS TABLE (
  dimension text, period date, key text, analyses bigint, calls bigint, failed_calls bigint,
  unpriced_calls bigint, input_tokens bigint, output_tokens bigint, thinking_tokens bigint,
  cached_input_tokens bigint, total_tokens bigint, cost_usd numeric, latency_hist integer[],
  latency_max_ms integer, tokens_saved bigint, reuse_cost_saved_usd numeric,
  cache_cost_saved_usd numeric)
LANGUAGE plpgsql STABLE
-- One statement serves one analysis and a year of them: plan it for the arguments given.
SET plan_cache_mode = force_custom_plan
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH marked AS MATERIALIZED (
    SELECT m.analysis_id, m.day, a.ticker, a.model, a.tokens_saved, a.cost_saved_usd,
           a.token_usage_breakdown
    FROM stats_rollup_marks m
    JOIN stock_analyses a ON a.id = m.analysis_id
    WHERE m.day BETWEEN p_from AND p_to
      AND (p_analysis IS NULL OR m.analysis_id = p_analysis)
  ),
  facts AS MATERIALIZED (
    -- One row per call and dimension (an analysis without calls still counts under 'all' and
    -- its ticker) ...
    SELECT k.analysis_id, k.day, d.dimension, d.key, c.status, c.input_tokens, c.output_tokens,
           c.thinking_tokens, c.cached_input_tokens, c.total_tokens, c.cost_usd,
           CASE WHEN c.status IN ('success', 'failure') THEN c.duration_ms END AS latency_ms,
           0::bigint AS tokens_saved, 0::numeric AS reuse_saved,
           COALESCE(c.cache_saved, 0) AS cache_saved
    FROM marked k
    LEFT JOIN LATERAL (
      SELECT lc.*, stats_cache_saving(lc.model, lc.price_version, lc.price_tier, lc.cached_input_tokens)
               AS cache_saved
      FROM llm_calls lc WHERE lc.analysis_id = k.analysis_id) c ON true
    CROSS JOIN LATERAL (VALUES ('all', ''), ('ticker', k.ticker), ('stage', c.call_type), ('model', c.model))
      AS d (dimension, key)
    WHERE d.key IS NOT NULL
    UNION ALL
    -- ... plus one row per analysis and dimension it saved under by reuse.
    SELECT k.analysis_id, k.day, d.dimension, d.key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           d.tokens, d.cost, 0
    FROM marked k
    CROSS JOIN LATERAL (
      SELECT v.dimension, v.key, k.tokens_saved::bigint, k.cost_saved_usd
      FROM (VALUES ('all', ''), ('ticker', k.ticker), ('model', k.model)) AS v (dimension, key)
      WHERE k.tokens_saved > 0 OR k.cost_saved_usd > 0
      UNION ALL
      SELECT 'stage', e.key, COALESCE((e.value->>'tokens_saved')::bigint, 0),
             COALESCE((e.value->>'cost_saved_usd')::numeric, 0)
      FROM jsonb_each(k.token_usage_breakdown) e
      WHERE e.value ? 'reused_from'
    ) AS d (dimension, key, tokens, cost)
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
           max(f.latency_ms) AS latency_max_ms,
           sum(f.tokens_saved)::bigint AS tokens_saved,
           sum(f.reuse_saved) AS reuse_cost_saved_usd,
           sum(f.cache_saved) AS cache_cost_saved_usd
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
         s.cost_usd, COALESCE(h.hist, stats_hist_from_buckets('{}', '{}')), s.latency_max_ms,
         s.tokens_saved, s.reuse_cost_saved_usd, s.cache_cost_saved_usd
  FROM sums s LEFT JOIN hists h USING (day, dimension, key);
END
$$;

-- As in 002, with the savings columns.
CREATE OR REPLACE FUNCTION stats_rebuild_rollups(p_from date DEFAULT NULL, p_to date DEFAULT NULL) RETURNS void
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
  INSERT INTO stats_rollups (dimension, grain, period, key, analyses, calls, failed_calls, unpriced_calls,
    input_tokens, output_tokens, thinking_tokens, cached_input_tokens, total_tokens, cost_usd,
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd)
  SELECT c.dimension, 'day', c.period, c.key, c.analyses, c.calls, c.failed_calls, c.unpriced_calls,
         c.input_tokens, c.output_tokens, c.thinking_tokens, c.cached_input_tokens, c.total_tokens,
         c.cost_usd, c.latency_hist, c.latency_max_ms, c.tokens_saved, c.reuse_cost_saved_usd,
         c.cache_cost_saved_usd
  FROM stats_rollup_contributions(v_from, v_to) c
  WHERE c.period >= v_derivable
     OR NOT EXISTS (SELECT 1 FROM stats_rollups r
                    WHERE r.dimension = 'all' AND r.grain = 'day' AND r.period = c.period);
  -- Months are sums of their days.
  v_from := date_trunc('month', v_from)::date;
  v_to := (date_trunc('month', v_to) + interval '1 month')::date;
  DELETE FROM stats_rollups WHERE grain = 'month' AND period >= v_from AND period < v_to;
  INSERT INTO stats_rollups (dimension, grain, period, key, analyses, calls, failed_calls, unpriced_calls,
    input_tokens, output_tokens, thinking_tokens, cached_input_tokens, total_tokens, cost_usd,
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd)
  SELECT r.dimension, 'month', date_trunc('month', r.period)::date, r.key, sum(r.analyses), sum(r.calls),
         sum(r.failed_calls), sum(r.unpriced_calls), sum(r.input_tokens), sum(r.output_tokens),
         sum(r.thinking_tokens), sum(r.cached_input_tokens), sum(r.total_tokens), sum(r.cost_usd),
         stats_hist_sum(r.latency_hist), max(r.latency_max_ms), sum(r.tokens_saved),
         sum(r.reuse_cost_saved_usd), sum(r.cache_cost_saved_usd)
  FROM stats_rollups r
  WHERE r.grain = 'day' AND r.period >= v_from AND r.period < v_to
  GROUP BY 1, 3, 4;
END
$$;

-- As in 002, with the savings columns.
CREATE OR REPLACE FUNCTION stats_apply_analysis(p_analysis text) RETURNS text
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
  INSERT INTO stats_rollups AS r (dimension, grain, period, key, analyses, calls, failed_calls,
    unpriced_calls, input_tokens, output_tokens, thinking_tokens, cached_input_tokens, total_tokens,
    cost_usd, latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd)
  SELECT c.dimension, g.grain,
         CASE g.grain WHEN 'day' THEN c.period ELSE date_trunc('month', c.period)::date END,
         c.key, c.analyses, c.calls, c.failed_calls, c.unpriced_calls, c.input_tokens, c.output_tokens,
         c.thinking_tokens, c.cached_input_tokens, c.total_tokens, c.cost_usd, c.latency_hist,
         c.latency_max_ms, c.tokens_saved, c.reuse_cost_saved_usd, c.cache_cost_saved_usd
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
    latency_max_ms = GREATEST(r.latency_max_ms, EXCLUDED.latency_max_ms),
    tokens_saved = r.tokens_saved + EXCLUDED.tokens_saved,
    reuse_cost_saved_usd = r.reuse_cost_saved_usd + EXCLUDED.reuse_cost_saved_usd,
    cache_cost_saved_usd = r.cache_cost_saved_usd + EXCLUDED.cache_cost_saved_usd;
  RETURN 'added';
END
$$;

-- Existing rollups gain their savings.
SELECT stats_rebuild_rollups();
