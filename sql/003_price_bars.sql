-- Daily OHLCV bars from outside the shipped samples: `import-prices` files and the live
-- provider's cache. The two are kept apart by `source`, so a refresh from Yahoo never
-- overwrites bars a user imported on purpose (and an import never poisons the cache).
--
-- Prices are DOUBLE PRECISION, not NUMERIC: they are inputs to float indicator maths, and a
-- float8 column gives back exactly the double that was parsed from the file or the feed.
-- Volume is float8 too: some feeds (crypto, adjusted series) carry fractional volumes.

CREATE TABLE price_bars (
  ticker      TEXT NOT NULL CHECK (ticker ~ '^[A-Z0-9][A-Z0-9.&-]{0,19}$'),
  source      TEXT NOT NULL CHECK (source IN ('import', 'live')),
  date        DATE NOT NULL,
  open        DOUBLE PRECISION NOT NULL CHECK (open > 0),
  high        DOUBLE PRECISION NOT NULL,
  low         DOUBLE PRECISION NOT NULL CHECK (low > 0),
  close       DOUBLE PRECISION NOT NULL CHECK (close > 0),
  volume      DOUBLE PRECISION NOT NULL CHECK (volume >= 0),
  -- Yahoo's own code: mostly ISO (INR, USD) but GBp means pence, so case is kept.
  currency    TEXT CHECK (currency ~ '^[A-Za-z]{3}$'),
  -- When this row was last written; the live provider's TTL reads the newest one per ticker.
  fetched_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (ticker, source, date),
  CHECK (high >= low AND open BETWEEN low AND high AND close BETWEEN low AND high)
);
