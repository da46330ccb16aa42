-- Per-analysis limits (analyze --max-tokens / --max-cost) and the once-a-day budget alerts.
ALTER TABLE stock_analyses
  ADD COLUMN max_tokens BIGINT CHECK (max_tokens > 0),
  ADD COLUMN max_cost_usd NUMERIC(24, 12) CHECK (max_cost_usd > 0);

-- One row per (UTC day, budget kind, threshold) crossed: the insert that wins logs the alert,
-- so it shows once however many workers notice the crossing.
CREATE TABLE budget_alerts (
  day        DATE NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('tokens', 'cost')),
  threshold  NUMERIC(5, 4) NOT NULL,
  spent      NUMERIC(24, 12) NOT NULL,
  budget     NUMERIC(24, 12) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (day, kind, threshold)
);
