-- The LLM key's shared rate limit when there is no Redis (QUEUE_BACKEND=postgres): the sliding
-- log of admissions and the 429 cooldown SharedRateLimiter keeps in Redis, as rows (see
-- src/llm/pg-rate-limiter.ts). Every attempt deletes its key's rows older than the window, so
-- a key holds about one window of admissions.
--
-- UNLOGGED: the rows churn with every LLM request and live for one window; a crash empties
-- the tables, which costs at most one window's count, as a restart of a non-persistent Redis does.
CREATE UNLOGGED TABLE llm_rate_admissions (
  limiter_key TEXT NOT NULL,
  member      TEXT NOT NULL,
  admitted_at TIMESTAMPTZ NOT NULL,
  tokens      INTEGER NOT NULL CHECK (tokens >= 0),
  PRIMARY KEY (limiter_key, member)
);
CREATE INDEX llm_rate_admissions_window_idx ON llm_rate_admissions (limiter_key, admitted_at);

-- One row per key, overwritten by each 429; a lapsed one is simply in the past.
CREATE UNLOGGED TABLE llm_rate_cooldowns (
  limiter_key TEXT PRIMARY KEY,
  until       TIMESTAMPTZ NOT NULL
);
