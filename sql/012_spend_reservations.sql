-- Spend controls that hold: before a call leaves, its worst case (prompt counted, answer and
-- thinking bounded) is reserved against the daily budget, across every worker. A reservation
-- is deleted once the call's closing row is committed (its actual spend then counts from
-- llm_calls); one left by a killed worker lapses at expires_at.
CREATE TABLE spend_reservations (
  id          BIGSERIAL PRIMARY KEY,
  day         DATE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
  analysis_id TEXT NOT NULL,
  call_type   TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  tokens      BIGINT NOT NULL CHECK (tokens >= 0),
  cost_usd    NUMERIC(24, 12),
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX spend_reservations_day_idx ON spend_reservations (day);

-- The worst case each call was sent under (NULL: sent with no reservation, no cap applied), so
-- a provider that bills past the bounds it was given shows on the row: total_tokens > reserved_tokens.
ALTER TABLE llm_calls ADD COLUMN reserved_tokens INTEGER;
