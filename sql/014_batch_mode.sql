-- Batch mode (Gemini Batch API, billed at half the standard rates): which analyses run through
-- it, which tier billed each call, and every batch we submitted, stored before it is polled.

ALTER TABLE stock_analyses ADD COLUMN batch BOOLEAN NOT NULL DEFAULT false;
-- What happens to a stage whose batch request failed, expired or was cancelled: it fails as any
-- other ('none'), or is asked again synchronously at the standard price ('sync').
ALTER TABLE stock_analyses ADD COLUMN batch_fallback TEXT NOT NULL DEFAULT 'none'
  CHECK (batch_fallback IN ('none', 'sync'));

ALTER TABLE llm_calls ADD COLUMN service_tier TEXT NOT NULL DEFAULT 'standard'
  CHECK (service_tier IN ('standard', 'batch'));

-- One row per batch, written (state 'creating') before batchGenerateContent is sent, under its
-- display name: a worker killed between create and storing the name finds it again by that
-- name in batches.list, so no batch is ever submitted twice.
CREATE TABLE llm_batches (
  display_name  TEXT PRIMARY KEY,
  -- "batches/…" once the provider has answered create.
  name          TEXT UNIQUE,
  model         TEXT NOT NULL,
  state         TEXT NOT NULL DEFAULT 'creating'
                CHECK (state IN ('creating', 'pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
  request_count INTEGER NOT NULL CHECK (request_count > 0),
  request_bytes BIGINT NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- The provider's createTime and endTime.
  submitted_at  TIMESTAMPTZ,
  ended_at      TIMESTAMPTZ,
  -- When its responses were written to llm_calls: after this the batch is done with.
  ingested_at   TIMESTAMPTZ,
  polls         INTEGER NOT NULL DEFAULT 0,
  next_poll_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  error         TEXT
);
CREATE INDEX llm_batches_open_idx ON llm_batches (next_poll_at) WHERE ingested_at IS NULL;

-- One row per stage call sent (or waiting to be sent) in a batch: the batch-mode twin of the
-- start marker a synchronous call commits before it leaves. batch_display_name is NULL while
-- the request waits for the next batch of its model.
CREATE TABLE llm_batch_requests (
  analysis_id        TEXT NOT NULL REFERENCES stock_analyses (id) ON DELETE CASCADE,
  call_type          TEXT NOT NULL,
  attempt            INTEGER NOT NULL CHECK (attempt >= 1),
  model              TEXT NOT NULL,
  batch_display_name TEXT REFERENCES llm_batches (display_name),
  -- The GenerateContentRequest as sent; dropped once the batch's responses are in.
  request            JSONB,
  request_bytes      INTEGER NOT NULL,
  input_chars        INTEGER NOT NULL,
  input_hash         TEXT,
  reserved_tokens    INTEGER,
  queued_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (analysis_id, call_type, attempt)
);
CREATE INDEX llm_batch_requests_batch_idx ON llm_batch_requests (batch_display_name);
CREATE INDEX llm_batch_requests_waiting_idx ON llm_batch_requests (model, queued_at)
  WHERE batch_display_name IS NULL;
