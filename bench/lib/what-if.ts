/**
 * Hypothetical changes, applied to one bench database (or one worker's connection URL) only,
 * to size a fix before making it in src/. Results measured with one are labelled WHAT-IF.
 * - no-rollups: folding pending analyses into the stats rollups only drops them (the fold's
 *   contributions query and rollup upserts gone; finalizes still mark them pending);
 * - async-commit: synchronous_commit = off for the bench database (commits stop waiting for
 *   fsync; not a fix, since a crash could lose acknowledged rows, but it shows what flushes cost);
 * - no-prepare: the worker's postgres.js pool without prepared statements (`?prepare=false`), so
 *   neither it nor its Postgres backends keep one cached statement per distinct INSERT batch size;
 * - hot-updates: a call's closing row replacing its start marker as a heap-only (HOT) update:
 *   the reuse index without its `status = 'success'` predicate (a changed predicate column
 *   rules HOT out) and `llm_calls` partitions at fillfactor 50 (room on the page for the new version);
 * - no-fk: `llm_calls` without its foreign key to `stock_analyses` (each inserted row's check
 *   is a `SELECT … FOR KEY SHARE` on its analysis).
 */
import type { Sql } from "../../src/store/database.js";

export const WHAT_IFS = ["no-rollups", "async-commit", "no-prepare", "hot-updates", "no-fk"] as const;
export type WhatIf = (typeof WHAT_IFS)[number];

/** `--what-if a,b` → the list; one clear line and exit code 2 for an unknown name. */
export function parseWhatIfs(value: string | undefined): WhatIf[] {
  const names = (value ?? "").split(",").filter(Boolean);
  const unknown = names.find((w) => !(WHAT_IFS as readonly string[]).includes(w));
  if (unknown) {
    process.stderr.write(`bench: --what-if takes ${WHAT_IFS.join(",")}, not ${unknown}\n`);
    process.exit(2);
  }
  return names as WhatIf[];
}

/** Applies the changes; returns the DATABASE_URL the worker should use. */
export async function applyWhatIfs(
  db: { sql: Sql; name: string; url: string },
  whatIfs: WhatIf[],
): Promise<string> {
  let url = db.url;
  for (const whatIf of whatIfs) {
    if (whatIf === "no-rollups") {
      await db.sql.unsafe(`CREATE OR REPLACE FUNCTION stats_fold_pending(p_limit integer DEFAULT 500)
        RETURNS integer LANGUAGE sql AS $$
          WITH batch AS (DELETE FROM stats_rollup_pending WHERE analysis_id IN (
            SELECT analysis_id FROM stats_rollup_pending ORDER BY pending_since LIMIT p_limit) RETURNING 1)
          SELECT count(*)::int FROM batch $$`);
    } else if (whatIf === "async-commit") {
      await db.sql.unsafe(`ALTER DATABASE "${db.name}" SET synchronous_commit = off`);
    } else if (whatIf === "hot-updates") {
      await db.sql.unsafe(`DROP INDEX llm_calls_reuse_idx`);
      await db.sql.unsafe(`CREATE INDEX llm_calls_reuse_idx ON llm_calls (input_hash, started_at DESC)
        WHERE input_hash IS NOT NULL`);
      const partitions = await db.sql<{ name: string }[]>`
        SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'llm_calls'::regclass`;
      for (const { name } of partitions) await db.sql.unsafe(`ALTER TABLE ${name} SET (fillfactor = 50)`);
    } else if (whatIf === "no-fk") {
      const [fk] = await db.sql<{ name: string }[]>`
        SELECT conname AS name FROM pg_constraint WHERE conrelid = 'llm_calls'::regclass AND contype = 'f'`;
      if (fk) await db.sql.unsafe(`ALTER TABLE llm_calls DROP CONSTRAINT "${fk.name}"`);
    } else {
      url = `${url}${url.includes("?") ? "&" : "?"}prepare=false`;
    }
  }
  return url;
}
