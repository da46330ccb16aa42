-- analyze --context-cache: the run puts its shared prompt prefix in an explicit Gemini context cache.
ALTER TABLE stock_analyses ADD COLUMN context_cache BOOLEAN NOT NULL DEFAULT false;
