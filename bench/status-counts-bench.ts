/**
 * /metrics' analyses-by-status gauge at scale: a full `GROUP BY status` over `stock_analyses`
 * against `AnalysisStatusCounter.read()` once its base is kept, and what taking the base costs.
 * `npx tsx bench/status-counts-bench.ts [--analyses 1000000]` (90 days of analyses, 2% failed,
 * the newest 300 queued); its own database, dropped after.
 */
import { AnalysisStatusCounter } from "../src/store/status-counts-repo.js";
import { isMain, median, numberArg } from "./lib/report.js";
import { createBenchDatabase } from "./lib/services.js";

async function timeMs(run: () => Promise<unknown>, times = 7): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await run();
    ms.push(performance.now() - started);
  }
  return median(ms);
}

if (isMain(import.meta.url)) {
  const analyses = numberArg(process.argv, "analyses", 1_000_000);
  const db = await createBenchDatabase();
  try {
    await db.sql`
      INSERT INTO stock_analyses (id, ticker, model, status, created_at)
      SELECT 'an-' || g, 'TCS', 'gemini-2.5-flash',
             CASE WHEN g % 50 = 0 THEN 'failed' WHEN g > ${analyses} - 300 THEN 'queued' ELSE 'completed' END,
             now() - ((${analyses} - g) * interval '90 days' / ${analyses})
      FROM generate_series(1, ${analyses}::int) g`;
    await db.sql`VACUUM ANALYZE stock_analyses`;
    const full = await timeMs(
      () => db.sql`SELECT status, count(*)::bigint AS n FROM stock_analyses GROUP BY status`,
    );
    const counter = new AnalysisStatusCounter(db.sql);
    const base = await timeMs(() => counter.read(), 1);
    const read = await timeMs(() => counter.read());
    console.log(
      `${analyses.toLocaleString("en-US")} analyses: full GROUP BY ${full.toFixed(1)} ms (median of 7); ` +
        `AnalysisStatusCounter.read() ${read.toFixed(1)} ms (median of 7), taking its base ${base.toFixed(0)} ms (once per 10 minutes)`,
    );
  } finally {
    await db.drop();
  }
  process.exit(0);
}
