-- stock-ledger schema v15: what batch mode saved, beside reuse and caching.
--
-- A batch call's saving is its cost at the standard rates (same usage, same price version,
-- standard or long_context tier by prompt size) less its cost at the batch rates. It is priced
-- with the call (src/ledger/batch-saving.ts) and stored on its row, NULL on standard calls; an
-- analysis holds the sum over its calls, written at finalize; the rollups fold it per call.
-- Cached tokens of batch calls save (input − cached input) at the batch card's rates.

ALTER TABLE llm_calls ADD COLUMN batch_saved_usd NUMERIC(24, 12);
ALTER TABLE stock_analyses ADD COLUMN batch_saved_usd NUMERIC(24, 12) NOT NULL DEFAULT 0;
ALTER TABLE stats_rollups ADD COLUMN batch_saved_usd NUMERIC(24, 12) NOT NULL DEFAULT 0;

-- Cache savings by batch tier too (src/store/savings-repo.ts syncCacheRates writes all four).
ALTER TABLE stats_cache_rates DROP CONSTRAINT stats_cache_rates_tier_check;
ALTER TABLE stats_cache_rates ADD CONSTRAINT stats_cache_rates_tier_check
  CHECK (tier IN ('standard', 'long_context', 'batch', 'batch_long_context'));

-- The shipped version's batch cards: input − cached input (a model without long-context rates
-- repeats its batch saving).
INSERT INTO stats_cache_rates (version, model, tier, saving_per_token)
SELECT 'gemini-2025-12', m.model, t.tier,
       GREATEST(CASE t.tier WHEN 'batch' THEN m.batch ELSE COALESCE(m.long, m.batch) END, 0) / 1000000
FROM (VALUES
  ('gemini-3-pro-preview', 1.00 - 0.20, 2.00 - 0.40),
  ('gemini-3-flash-preview', 0.25 - 0.05, NULL),
  ('gemini-2.5-pro', 0.625 - 0.125, 1.25 - 0.25),
  ('gemini-2.5-flash', 0.15 - 0.03, NULL),
  ('gemini-2.5-flash-lite', 0.05 - 0.01, NULL),
  ('gemini-2.0-flash', 0.05 - 0.025, NULL),
  ('gemini-2.0-flash-lite', 0.0375 - 0.0375, NULL)
) AS m (model, batch, long)
CROSS JOIN (VALUES ('batch'), ('batch_long_context')) AS t (tier)
ON CONFLICT (version, model, tier) DO NOTHING;

-- A batch tier looks up its own rates; any other tier but long_context is standard.
CREATE OR REPLACE FUNCTION stats_cache_saving(p_model text, p_version text, p_tier text, p_cached bigint)
RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN p_cached > 0 AND p_version IS NOT NULL THEN COALESCE((
  SELECT r.saving_per_token * p_cached
  FROM stats_cache_rates r
  WHERE r.version = p_version
    AND r.tier = CASE WHEN p_tier IN ('long_context', 'batch', 'batch_long_context') THEN p_tier
                      ELSE 'standard' END
    AND (r.model = p_model OR starts_with(p_model, r.model || '-'))
  ORDER BY r.model = p_model DESC, length(r.model) DESC
  LIMIT 1), 0)
  ELSE 0 END;

-- Batch calls stored before this migration, priced by the shipped version: their saving from
-- its standard and batch cards (USD per 1M tokens), exactly as priceCall computes it. Calls
-- priced by a PRICE_BOOK_FILE version keep NULL (no saving known). Then each analysis' sum.
CREATE FUNCTION batch_savings_backfill() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_calls bigint;
BEGIN
  WITH cards (model, tier, std_in, std_cached, std_out, batch_in, batch_cached, batch_out) AS (VALUES
    ('gemini-3-pro-preview', 'batch', 2.00, 0.20, 12.00, 1.00, 0.20, 6.00),
    ('gemini-3-pro-preview', 'batch_long_context', 4.00, 0.40, 18.00, 2.00, 0.40, 9.00),
    ('gemini-3-flash-preview', 'batch', 0.50, 0.05, 3.00, 0.25, 0.05, 1.50),
    ('gemini-2.5-pro', 'batch', 1.25, 0.125, 10.00, 0.625, 0.125, 5.00),
    ('gemini-2.5-pro', 'batch_long_context', 2.50, 0.25, 15.00, 1.25, 0.25, 7.50),
    ('gemini-2.5-flash', 'batch', 0.30, 0.03, 2.50, 0.15, 0.03, 1.25),
    ('gemini-2.5-flash-lite', 'batch', 0.10, 0.01, 0.40, 0.05, 0.01, 0.20),
    ('gemini-2.0-flash', 'batch', 0.10, 0.025, 0.40, 0.05, 0.025, 0.20),
    ('gemini-2.0-flash-lite', 'batch', 0.075, 0.075, 0.30, 0.0375, 0.0375, 0.15)
  ), saved AS (
    SELECT c.analysis_id, c.call_type, c.attempt, c.started_at,
           ((c.input_tokens - LEAST(c.cached_input_tokens, c.input_tokens)) * (r.std_in - r.batch_in)
            + LEAST(c.cached_input_tokens, c.input_tokens) * (r.std_cached - r.batch_cached)
            + c.output_tokens * (r.std_out - r.batch_out)) / 1000000 AS saving
    FROM llm_calls c
    CROSS JOIN LATERAL (
      SELECT k.* FROM cards k
      WHERE k.tier = c.price_tier AND (k.model = c.model OR starts_with(c.model, k.model || '-'))
      ORDER BY k.model = c.model DESC, length(k.model) DESC
      LIMIT 1) r
    WHERE c.service_tier = 'batch' AND c.batch_saved_usd IS NULL AND c.price_version = 'gemini-2025-12'
  )
  UPDATE llm_calls c SET batch_saved_usd = s.saving
  FROM saved s
  WHERE c.analysis_id = s.analysis_id AND c.call_type = s.call_type AND c.attempt = s.attempt
    AND c.started_at = s.started_at;
  GET DIAGNOSTICS v_calls = ROW_COUNT;
  UPDATE stock_analyses a SET batch_saved_usd = s.saved
  FROM (SELECT analysis_id, sum(batch_saved_usd) AS saved FROM llm_calls
        WHERE batch_saved_usd IS NOT NULL GROUP BY analysis_id) s
  WHERE a.id = s.analysis_id AND a.batch_saved_usd IS DISTINCT FROM s.saved;
  RETURN v_calls;
END
$$;

SELECT batch_savings_backfill();

-- The rollup functions of 010 gain batch_saved_usd: each call's own, 0 on reuse rows.
DROP VIEW stats_rollups_live;
DROP FUNCTION stats_rollup_rows(text[]);
DROP FUNCTION stats_rollup_contributions(date, date, text, text[]);

CREATE FUNCTION stats_rollup_contributions(
  p_from date, p_to date, p_analysis text DEFAULT NULL, p_analyses text[] DEFAULT NULL)
RETURNS TABLE (
  dimension text, period date, key text, analyses bigint, calls bigint, failed_calls bigint,
  unpriced_calls bigint, input_tokens bigint, output_tokens bigint, thinking_tokens bigint,
  cached_input_tokens bigint, total_tokens bigint, cost_usd numeric, latency_hist integer[],
  latency_max_ms integer, tokens_saved bigint, reuse_cost_saved_usd numeric,
  cache_cost_saved_usd numeric, batch_saved_usd numeric)
LANGUAGE plpgsql STABLE
-- One statement serves one analysis and a year of them: plan it for the arguments given.
SET plan_cache_mode = force_custom_plan
SET work_mem = '64MB'
-- A fold's batch is small and fast; JIT would spend seconds compiling for a misestimated plan.
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
  IF cardinality(p_analyses) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH marked AS MATERIALIZED (
    SELECT m.analysis_id, m.day, a.ticker, a.model, a.tokens_saved, a.cost_saved_usd,
           a.token_usage_breakdown
    FROM stats_rollup_marks m
    JOIN stock_analyses a ON a.id = m.analysis_id
    WHERE CASE WHEN p_analyses IS NOT NULL THEN m.analysis_id = ANY (p_analyses)
          ELSE m.day BETWEEN p_from AND p_to
           AND (p_analysis IS NULL OR m.analysis_id = p_analysis)
           -- Pending analyses are not in the rollups yet: re-deriving a day leaves them to the folder.
           AND NOT EXISTS (SELECT 1 FROM stats_rollup_pending p WHERE p.analysis_id = m.analysis_id)
          END
  ),
  facts AS MATERIALIZED (
    -- One row per call and dimension (an analysis without calls still counts under 'all' and
    -- its ticker) ...
    SELECT k.analysis_id, k.day, d.dimension, d.key, c.status, c.input_tokens, c.output_tokens,
           c.thinking_tokens, c.cached_input_tokens, c.total_tokens, c.cost_usd,
           CASE WHEN c.status IN ('success', 'failure') THEN c.duration_ms END AS latency_ms,
           0::bigint AS tokens_saved, 0::numeric AS reuse_saved,
           COALESCE(c.cache_saved, 0) AS cache_saved,
           COALESCE(c.batch_saved_usd, 0) AS batch_saved
    FROM marked k
    LEFT JOIN LATERAL (
      SELECT lc.*, stats_cache_saving(lc.model, lc.price_version, lc.price_tier, lc.cached_input_tokens)
               AS cache_saved
      -- OFFSET 0 keeps this a per-analysis index lookup: flattened into a join, stale row
      -- estimates of a fast-growing llm_calls made the planner scan all of it for every fold.
      FROM llm_calls lc WHERE lc.analysis_id = k.analysis_id OFFSET 0) c ON true
    CROSS JOIN LATERAL (VALUES ('all', ''), ('ticker', k.ticker), ('stage', c.call_type), ('model', c.model))
      AS d (dimension, key)
    WHERE d.key IS NOT NULL
    UNION ALL
    -- ... plus one row per analysis and dimension it saved under by reuse.
    SELECT k.analysis_id, k.day, d.dimension, d.key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           d.tokens, d.cost, 0, 0
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
           sum(f.cache_saved) AS cache_cost_saved_usd,
           sum(f.batch_saved) AS batch_saved_usd
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
         s.tokens_saved, s.reuse_cost_saved_usd, s.cache_cost_saved_usd, s.batch_saved_usd
  FROM sums s LEFT JOIN hists h USING (day, dimension, key);
END
$$;

CREATE FUNCTION stats_rollup_rows(p_analyses text[])
RETURNS TABLE (
  dimension text, grain text, period date, key text, analyses bigint, calls bigint,
  failed_calls bigint, unpriced_calls bigint, input_tokens bigint, output_tokens bigint,
  thinking_tokens bigint, cached_input_tokens bigint, total_tokens bigint, cost_usd numeric,
  latency_hist integer[], latency_max_ms integer, tokens_saved bigint,
  reuse_cost_saved_usd numeric, cache_cost_saved_usd numeric, batch_saved_usd numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT c.dimension, g.grain,
         CASE g.grain WHEN 'day' THEN c.period ELSE date_trunc('month', c.period)::date END AS period,
         c.key, sum(c.analyses)::bigint, sum(c.calls)::bigint, sum(c.failed_calls)::bigint,
         sum(c.unpriced_calls)::bigint, sum(c.input_tokens)::bigint, sum(c.output_tokens)::bigint,
         sum(c.thinking_tokens)::bigint, sum(c.cached_input_tokens)::bigint,
         sum(c.total_tokens)::bigint, sum(c.cost_usd), stats_hist_sum(c.latency_hist),
         max(c.latency_max_ms), sum(c.tokens_saved)::bigint, sum(c.reuse_cost_saved_usd),
         sum(c.cache_cost_saved_usd), sum(c.batch_saved_usd)
  FROM stats_rollup_contributions(NULL, NULL, NULL, p_analyses) c
  CROSS JOIN (VALUES ('day'), ('month')) AS g (grain)
  GROUP BY 1, 2, 3, 4
  -- Key order, so a fold locks rows in the same order as a re-derivation.
  ORDER BY 1, 2, 3, 4;
END;

CREATE VIEW stats_rollups_live AS
SELECT dimension, grain, period, key, analyses, calls, failed_calls, unpriced_calls,
    input_tokens, output_tokens, thinking_tokens, cached_input_tokens, total_tokens, cost_usd,
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd,
    batch_saved_usd FROM stats_rollups
UNION ALL
SELECT * FROM stats_rollup_rows(ARRAY(SELECT analysis_id FROM stats_rollup_pending));

-- As in 010, adding batch_saved_usd.
CREATE OR REPLACE FUNCTION stats_fold_pending(p_limit integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_ids text[];
BEGIN
  -- One folder at a time: two would only queue on the same rollup rows.
  IF NOT pg_try_advisory_xact_lock(hashtext('stock-ledger.stats_fold_pending')) THEN
    RETURN NULL;
  END IF;
  -- Taken before the batch is chosen, so a re-derivation (EXCLUSIVE) is wholly before or after.
  LOCK TABLE stats_rollups IN ROW EXCLUSIVE MODE;
  WITH batch AS (
    DELETE FROM stats_rollup_pending
    WHERE analysis_id IN (SELECT analysis_id FROM stats_rollup_pending ORDER BY pending_since LIMIT p_limit)
    RETURNING analysis_id)
  SELECT array_agg(analysis_id) INTO v_ids FROM batch;
  IF v_ids IS NULL THEN
    RETURN 0;
  END IF;
  INSERT INTO stats_rollups AS r (dimension, grain, period, key, analyses, calls, failed_calls, unpriced_calls,
    input_tokens, output_tokens, thinking_tokens, cached_input_tokens, total_tokens, cost_usd,
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd,
    batch_saved_usd)
  SELECT * FROM stats_rollup_rows(v_ids)
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
    cache_cost_saved_usd = r.cache_cost_saved_usd + EXCLUDED.cache_cost_saved_usd,
    batch_saved_usd = r.batch_saved_usd + EXCLUDED.batch_saved_usd;
  RETURN cardinality(v_ids);
END
$$;

-- As in 009, adding batch_saved_usd.
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
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd,
    batch_saved_usd)
  SELECT c.dimension, 'day', c.period, c.key, c.analyses, c.calls, c.failed_calls, c.unpriced_calls,
         c.input_tokens, c.output_tokens, c.thinking_tokens, c.cached_input_tokens, c.total_tokens,
         c.cost_usd, c.latency_hist, c.latency_max_ms, c.tokens_saved, c.reuse_cost_saved_usd,
         c.cache_cost_saved_usd, c.batch_saved_usd
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
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd,
    batch_saved_usd)
  SELECT r.dimension, 'month', date_trunc('month', r.period)::date, r.key, sum(r.analyses), sum(r.calls),
         sum(r.failed_calls), sum(r.unpriced_calls), sum(r.input_tokens), sum(r.output_tokens),
         sum(r.thinking_tokens), sum(r.cached_input_tokens), sum(r.total_tokens), sum(r.cost_usd),
         stats_hist_sum(r.latency_hist), max(r.latency_max_ms), sum(r.tokens_saved),
         sum(r.reuse_cost_saved_usd), sum(r.cache_cost_saved_usd), sum(r.batch_saved_usd)
  FROM stats_rollups r
  WHERE r.grain = 'day' AND r.period >= v_from AND r.period < v_to
  GROUP BY 1, 3, 4;
END
$$;

-- Existing rollups gain the batch savings, and the cache savings of batch calls at batch rates.
SELECT stats_rebuild_rollups();
