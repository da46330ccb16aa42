-- llm_calls partitioned by month of started_at, so old months can be dropped whole (the
-- `retention` command) instead of deleted row by row, and month-bounded scans touch one table.
-- The primary key must include the partition key; (analysis_id, call_type, attempt) stays
-- unique in practice because a call's start marker and closing row share started_at and new
-- attempts are numbered after every stored one.

ALTER TABLE llm_calls RENAME TO llm_calls_unpartitioned;
ALTER INDEX llm_calls_pkey RENAME TO llm_calls_unpartitioned_pkey;
ALTER INDEX llm_calls_started_at_idx RENAME TO llm_calls_unpartitioned_started_at_idx;
ALTER INDEX llm_calls_reuse_idx RENAME TO llm_calls_unpartitioned_reuse_idx;

CREATE TABLE llm_calls (LIKE llm_calls_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (started_at);
ALTER TABLE llm_calls ADD PRIMARY KEY (analysis_id, call_type, attempt, started_at);
ALTER TABLE llm_calls ADD FOREIGN KEY (analysis_id) REFERENCES stock_analyses (id) ON DELETE CASCADE;
CREATE INDEX llm_calls_started_at_idx ON llm_calls (started_at);
CREATE INDEX llm_calls_reuse_idx ON llm_calls (input_hash, started_at DESC)
  WHERE status = 'success' AND input_hash IS NOT NULL;

-- Catches any row outside the monthly partitions (kept empty by creating months ahead).
CREATE TABLE llm_calls_default PARTITION OF llm_calls DEFAULT;

-- Creates the monthly partitions from first_month through last_month that do not exist yet.
CREATE FUNCTION llm_calls_ensure_partitions(first_month date, last_month date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  month date := date_trunc('month', first_month)::date;
  created integer := 0;
  name text;
BEGIN
  WHILE month <= last_month LOOP
    name := format('llm_calls_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
    IF to_regclass(name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF llm_calls FOR VALUES FROM (%L) TO (%L)',
                     name, month::text || ' 00:00:00+00', (month + interval '1 month')::date::text || ' 00:00:00+00');
      created := created + 1;
    END IF;
    month := (month + interval '1 month')::date;
  END LOOP;
  RETURN created;
END $$;

SELECT llm_calls_ensure_partitions(
  COALESCE((SELECT min(started_at AT TIME ZONE 'UTC')::date FROM llm_calls_unpartitioned),
           (now() AT TIME ZONE 'UTC')::date),
  ((now() AT TIME ZONE 'UTC') + interval '3 months')::date);

INSERT INTO llm_calls SELECT * FROM llm_calls_unpartitioned;
DROP TABLE llm_calls_unpartitioned;
