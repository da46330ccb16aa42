-- stock-ledger schema v10: finalizes no longer write the shared rollup rows.
--
-- Every finalize used to add its analysis to the same hot rows ('all', its model and stages,
-- today and this month) in its own transaction, so concurrent finalizes queued on those row
-- locks (457 ms on average at concurrency 64, the largest cost of the whole pipeline). Now a
-- finalize only marks its analysis pending, in the same transaction as before; one folder at a
-- time (stats_fold_pending, run by the workers a moment after their finalizes) adds a batch of
-- pending analyses with one write per rollup row; and readers (stats_rollups_live) add the
-- contributions of the analyses still pending, so stats are exact at every moment.

-- Analyses marked (stats_rollup_marks) whose contribution is not in stats_rollups yet.
CREATE TABLE stats_rollup_pending (
  analysis_id   TEXT PRIMARY KEY,
  pending_since TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Gains p_analyses, and leaves pending analyses out of re-derived days.
DROP FUNCTION stats_rollup_contributions(date, date, text);

-- Rollup rows (day grain) of the marked analyses on days [p_from, p_to] (or of p_analysis alone)
-- that are already folded, i.e. not pending; or, given p_analyses, of exactly those analyses.
CREATE FUNCTION stats_rollup_contributions(
  p_from date, p_to date, p_analysis text DEFAULT NULL, p_analyses text[] DEFAULT NULL)
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
           COALESCE(c.cache_saved, 0) AS cache_saved
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


-- The day and month rollup rows of some analyses' contributions: months sum their days.
CREATE FUNCTION stats_rollup_rows(p_analyses text[])
RETURNS TABLE (
  dimension text, grain text, period date, key text, analyses bigint, calls bigint,
  failed_calls bigint, unpriced_calls bigint, input_tokens bigint, output_tokens bigint,
  thinking_tokens bigint, cached_input_tokens bigint, total_tokens bigint, cost_usd numeric,
  latency_hist integer[], latency_max_ms integer, tokens_saved bigint,
  reuse_cost_saved_usd numeric, cache_cost_saved_usd numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT c.dimension, g.grain,
         CASE g.grain WHEN 'day' THEN c.period ELSE date_trunc('month', c.period)::date END AS period,
         c.key, sum(c.analyses)::bigint, sum(c.calls)::bigint, sum(c.failed_calls)::bigint,
         sum(c.unpriced_calls)::bigint, sum(c.input_tokens)::bigint, sum(c.output_tokens)::bigint,
         sum(c.thinking_tokens)::bigint, sum(c.cached_input_tokens)::bigint,
         sum(c.total_tokens)::bigint, sum(c.cost_usd), stats_hist_sum(c.latency_hist),
         max(c.latency_max_ms), sum(c.tokens_saved)::bigint, sum(c.reuse_cost_saved_usd),
         sum(c.cache_cost_saved_usd)
  FROM stats_rollup_contributions(NULL, NULL, NULL, p_analyses) c
  CROSS JOIN (VALUES ('day'), ('month')) AS g (grain)
  GROUP BY 1, 2, 3, 4
  -- Key order, so a fold locks rows in the same order as a re-derivation.
  ORDER BY 1, 2, 3, 4;
END;

-- Folds up to p_limit pending analyses (oldest first) into the rollups, in one transaction:
-- the batch leaves stats_rollup_pending exactly when its contribution lands. Returns how many
-- were folded, or NULL when another session is folding (it will get these too).
CREATE FUNCTION stats_fold_pending(p_limit integer DEFAULT 500) RETURNS integer
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
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd)
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
    cache_cost_saved_usd = r.cache_cost_saved_usd + EXCLUDED.cache_cost_saved_usd;
  RETURN cardinality(v_ids);
END
$$;

-- What readers query: the folded rollups plus the contributions of the analyses still pending
-- (a handful: workers fold a moment after they finalize). A fold moves an analysis from one
-- part to the other in one transaction, so a reader's snapshot counts it exactly once.
CREATE VIEW stats_rollups_live AS
SELECT dimension, grain, period, key, analyses, calls, failed_calls, unpriced_calls,
    input_tokens, output_tokens, thinking_tokens, cached_input_tokens, total_tokens, cost_usd,
    latency_hist, latency_max_ms, tokens_saved, reuse_cost_saved_usd, cache_cost_saved_usd FROM stats_rollups
UNION ALL
SELECT * FROM stats_rollup_rows(ARRAY(SELECT analysis_id FROM stats_rollup_pending));

-- A finalize marks its analysis and leaves it pending; the folder adds it to the rollups.
CREATE OR REPLACE FUNCTION stats_apply_analysis(p_analysis text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_day date;
  v_previous date;
  v_newly_marked boolean;
  v_was_folded boolean;
BEGIN
  SELECT (COALESCE(started_at, created_at) AT TIME ZONE 'UTC')::date INTO v_day
  FROM stock_analyses WHERE id = p_analysis;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'analysis % does not exist', p_analysis USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO stats_rollup_marks (analysis_id, day) VALUES (p_analysis, v_day)
  ON CONFLICT (analysis_id) DO NOTHING;
  v_newly_marked := FOUND;
  INSERT INTO stats_rollup_pending (analysis_id) VALUES (p_analysis)
  ON CONFLICT (analysis_id) DO NOTHING;
  v_was_folded := FOUND AND NOT v_newly_marked;
  IF v_newly_marked THEN
    RETURN 'added';
  END IF;
  -- Finalized before: the folder will add it as it is now ...
  SELECT day INTO v_previous FROM stats_rollup_marks WHERE analysis_id = p_analysis FOR UPDATE;
  UPDATE stats_rollup_marks SET day = v_day, rolled_up_at = now() WHERE analysis_id = p_analysis;
  IF NOT v_was_folded THEN
    RETURN 'added';
  END IF;
  -- ... and re-deriving its days (which leaves pending analyses out) takes out what it added then.
  PERFORM stats_rebuild_rollups(v_day, v_day);
  IF v_previous <> v_day THEN
    PERFORM stats_rebuild_rollups(v_previous, v_previous);
  END IF;
  RETURN 'rebuilt';
END
$$;
