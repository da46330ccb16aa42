-- stock-ledger schema v11: cache savings look a call's model up within the version that priced it.
--
-- stats_cache_rates now also holds PRICE_BOOK_FILE versions (src/store/savings-repo.ts
-- syncCacheRates), whose model names the other versions may not share. Matching the name among
-- every version's models could pick a longer name from another version and find no rate; within
-- the call's own version it is the name that priced the call (src/ledger/price-table.ts
-- resolvePrice), as cacheSavingPerToken does.

CREATE OR REPLACE FUNCTION stats_cache_saving(p_model text, p_version text, p_tier text, p_cached bigint)
RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN p_cached > 0 AND p_version IS NOT NULL THEN COALESCE((
  SELECT r.saving_per_token * p_cached
  FROM stats_cache_rates r
  WHERE r.version = p_version
    AND r.tier = CASE WHEN p_tier = 'long_context' THEN 'long_context' ELSE 'standard' END
    AND (r.model = p_model OR starts_with(p_model, r.model || '-'))
  ORDER BY r.model = p_model DESC, length(r.model) DESC
  LIMIT 1), 0)
  ELSE 0 END;
