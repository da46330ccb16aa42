-- stock-ledger schema v1: one row per analysis, one row per LLM attempt.

CREATE TABLE stock_analyses (
  id                    TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$' AND id !~ '^[0-9]+$'),
  ticker                TEXT NOT NULL CHECK (ticker ~ '^[A-Z0-9][A-Z0-9.&-]{0,19}$'),
  status                TEXT NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'running', 'completed', 'partial', 'failed', 'budget_exceeded')),
  model                 TEXT NOT NULL,
  created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
  started_at            TIMESTAMPTZ,
  completed_at          TIMESTAMPTZ,
  duration_ms           INTEGER,
  -- The seed's columns, names and types kept exactly.
  total_input_tokens    INTEGER NOT NULL DEFAULT 0,
  total_output_tokens   INTEGER NOT NULL DEFAULT 0,
  total_tokens          INTEGER NOT NULL DEFAULT 0,
  llm_calls_count       INTEGER NOT NULL DEFAULT 0,
  token_usage_breakdown JSONB NOT NULL DEFAULT '{}'::jsonb,
  thinking_tokens       BIGINT NOT NULL DEFAULT 0,
  cached_input_tokens   BIGINT NOT NULL DEFAULT 0,
  failed_calls_count    INTEGER NOT NULL DEFAULT 0,
  cost_usd              NUMERIC(24, 12),
  decision              JSONB,
  error                 TEXT,
  tokens_saved          BIGINT NOT NULL DEFAULT 0,
  cost_saved_usd        NUMERIC(24, 12) NOT NULL DEFAULT 0,
  market_data_source    TEXT,
  -- How many times a worker has started this analysis (>1 means it was resumed after a fault).
  runs                  INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX stock_analyses_created_at_idx ON stock_analyses (created_at DESC, id DESC);
CREATE INDEX stock_analyses_ticker_created_at_idx ON stock_analyses (ticker, created_at DESC);
CREATE INDEX stock_analyses_status_idx ON stock_analyses (status, created_at DESC);

CREATE TABLE llm_calls (
  analysis_id         TEXT NOT NULL REFERENCES stock_analyses (id) ON DELETE CASCADE,
  call_type           TEXT NOT NULL,
  attempt             INTEGER NOT NULL CHECK (attempt >= 1),
  model               TEXT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('success', 'failure', 'interrupted')),
  input_tokens        INTEGER NOT NULL DEFAULT 0,
  output_tokens       INTEGER NOT NULL DEFAULT 0,
  thinking_tokens     INTEGER NOT NULL DEFAULT 0,
  cached_input_tokens INTEGER NOT NULL DEFAULT 0,
  total_tokens        INTEGER NOT NULL DEFAULT 0,
  usage_source        TEXT NOT NULL CHECK (usage_source IN ('provider', 'estimated', 'none')),
  error_type          TEXT,
  error_message       TEXT,
  started_at          TIMESTAMPTZ NOT NULL,
  duration_ms         INTEGER,
  cost_usd            NUMERIC(24, 12),
  price_version       TEXT,
  price_tier          TEXT,
  input_chars         INTEGER NOT NULL DEFAULT 0,
  output_chars        INTEGER NOT NULL DEFAULT 0,
  raw_usage           JSONB,
  modality_tokens     JSONB NOT NULL DEFAULT '{"input": {}, "output": {}}'::jsonb,
  -- The stage's answer on success, so a resumed job reuses it instead of paying again.
  output              TEXT,
  PRIMARY KEY (analysis_id, call_type, attempt)
);

CREATE INDEX llm_calls_started_at_idx ON llm_calls (started_at);
