-- One execution of an analysis at a time, across all workers: a lease in Postgres (the source of
-- truth) that the running worker renews. A second job for the same analysis (Redis lost its jobs
-- and recovery re-queued one; a duplicate delivery) waits until the lease is free or expired.
ALTER TABLE stock_analyses
  ADD COLUMN lease_owner TEXT,
  ADD COLUMN lease_expires_at TIMESTAMPTZ;
