-- Stage reuse: a stage whose exact input (model, prompt version, system instruction and prompt,
-- which embeds the price data) was answered recently is reused instead of billed again.
ALTER TABLE llm_calls ADD COLUMN input_hash TEXT;
CREATE INDEX llm_calls_reuse_idx ON llm_calls (input_hash, started_at DESC)
  WHERE status = 'success' AND input_hash IS NOT NULL;

ALTER TABLE stock_analyses
  ADD COLUMN reuse BOOLEAN NOT NULL DEFAULT false,
  -- sha256 of the price bars the analysis used, for audit.
  ADD COLUMN data_hash TEXT;
