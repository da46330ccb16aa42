/**
 * Stats bench: times every `stats` query shape over a generated ledger of `--scale` × 1M
 * analyses (~7 calls each) and their rollups. Target: p95 < 50 ms over 20 runs per shape.
 *
 *   npx tsx bench/stats-bench.ts                 # 1,000,000 analyses (generation takes minutes)
 *   npx tsx bench/stats-bench.ts --scale 0.01    # 10,000, for a quick run
 *   options: --runs N (default 20), --fresh (regenerate even if a finished database exists)
 */
import { parseArgs } from "node:util";
import {
  loadStats,
  mostExpensive,
  parseStatsOptions,
  STATS_DIMENSIONS,
  STATS_RANGES,
} from "../src/store/stats-repo.js";
import { ensureBenchData } from "./stats-bench-data.js";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    runs: { type: "string", default: "20" },
    fresh: { type: "boolean", default: false },
  },
});
const scale = Number(values.scale);
const runs = Number(values.runs);
if (!(scale > 0) || !(runs > 0)) throw new Error("--scale and --runs must be positive numbers");

const data = await ensureBenchData({ scale, fresh: values.fresh });
const { sql } = data;

const quantile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;

async function time(work: () => Promise<unknown>): Promise<{ p50: number; p95: number; max: number }> {
  await work(); // warm-up: connection, prepared statement, buffer cache
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p95: quantile(samples, 0.95), max: samples.at(-1) ?? 0 };
}

const now = new Date();
const day = (offset: number) => new Date(now.getTime() + offset * 86_400_000).toISOString().slice(0, 10);
const shapes: { name: string; options: Parameters<typeof parseStatsOptions>[0]; text?: boolean }[] = [];
for (const range of STATS_RANGES) {
  for (const by of STATS_DIMENSIONS)
    shapes.push({ name: `--range ${range} --by ${by}`, options: { range, by } });
}
shapes.push({
  name: `--since ${day(-200)} --until ${day(-20)} --by ticker`,
  options: { since: day(-200), until: day(-20), by: "ticker" },
});
shapes.push({ name: `--since ${day(-100)} --by day`, options: { since: day(-100), by: "day" } });
// The most day rows a window can need per key: half a month at each edge.
const monthDay = (monthsBack: number, dayOfMonth: number) => {
  const date = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, dayOfMonth));
  return date.toISOString().slice(0, 10);
};
const [midFrom, midTo] = [monthDay(8, 16), monthDay(2, 15)];
shapes.push({
  name: `--since ${midFrom} --until ${midTo} --by ticker`,
  options: { since: midFrom, until: midTo, by: "ticker" },
});
shapes.push({
  name: "--range all --by ticker (text: + most expensive model, ticker)",
  options: { range: "all", by: "ticker" },
  text: true,
});

const rows: string[] = [];
let worst = 0;
for (const shape of shapes) {
  const query = parseStatsOptions(shape.options, now);
  // The text output runs its three queries at once, as `statsCommand` does.
  const result = await time(() =>
    Promise.all([
      loadStats(sql, query),
      ...(shape.text
        ? [mostExpensive(sql, query.window, "model"), mostExpensive(sql, query.window, "ticker")]
        : []),
    ]),
  );
  worst = Math.max(worst, result.p95);
  rows.push(
    `| \`stats ${shape.name}\` | ${result.p50.toFixed(1)} | ${result.p95.toFixed(1)} | ${result.max.toFixed(1)} |`,
  );
  process.stderr.write(`  ${shape.name}: p95 ${result.p95.toFixed(1)} ms\n`);
}

// Histogram percentiles against the exact ones, over the calls of the last 7 days.
const week = parseStatsOptions({ range: "7d" }, now);
const estimated = (await loadStats(sql, week)).totals;
const [exact] = await sql<{ p50: number; p95: number; calls: number }[]>`
  SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY c.duration_ms) AS p50,
         percentile_disc(0.95) WITHIN GROUP (ORDER BY c.duration_ms) AS p95, count(*)::int AS calls
  FROM stats_rollup_marks m JOIN llm_calls c ON c.analysis_id = m.analysis_id
  WHERE m.day >= ${week.window.from}::date AND c.status IN ('success', 'failure')`;
const error = (estimate: number | null, truth: number | undefined) =>
  estimate === null || !truth ? "n/a" : `${(((estimate - truth) / truth) * 100).toFixed(2)}%`;

// What rolling up adds to a finalize transaction on a table this size.
const applied: number[] = [];
for (let i = 0; i < 50; i++) {
  const id = `bench-apply-${Date.now()}-${i}`;
  await sql.begin(async (tx) => {
    await tx`INSERT INTO stock_analyses (id, ticker, model, status, started_at) VALUES (${id}, 'TCS', 'gemini-2.5-flash', 'completed', now())`;
    await tx`
      INSERT INTO llm_calls (analysis_id, call_type, attempt, model, status, input_tokens, output_tokens,
        total_tokens, usage_source, started_at, duration_ms, cost_usd)
      SELECT ${id}, s, 1, 'gemini-2.5-flash', 'success', 2000, 500, 2500, 'provider', now(), 900, 0.00185
      FROM unnest(ARRAY['indicator_summary', 'comprehensive_overview', 'volume_analysis', 'reversal_patterns',
                        'continuation_levels', 'final_decision']) s`;
    const started = performance.now();
    await tx`SELECT stats_apply_analysis(${id})`;
    applied.push(performance.now() - started);
  });
}
applied.sort((a, b) => a - b);

const [sizes] = await sql<{ rollup_rows: number; rollups: string; marks: string; calls: string }[]>`
  SELECT (SELECT count(*) FROM stats_rollups)::int AS rollup_rows,
         pg_size_pretty(pg_total_relation_size('stats_rollups')) AS rollups,
         pg_size_pretty(pg_total_relation_size('stats_rollup_marks')) AS marks,
         pg_size_pretty(pg_total_relation_size('llm_calls')) AS calls`;

const out = [
  `## stats over ${data.analyses.toLocaleString("en-US")} analyses / ${data.calls.toLocaleString("en-US")} calls (scale ${scale}, ${runs} runs per shape)`,
  "",
  ...(Object.keys(data.timings).length > 0
    ? [
        "Generation (seconds):",
        "",
        ...Object.entries(data.timings).map(([phase, s]) => `- ${phase}: ${s.toFixed(1)}`),
        "",
      ]
    : ["(database reused; see an earlier run for generation times)", ""]),
  "| query | p50 ms | p95 ms | max ms |",
  "|---|---:|---:|---:|",
  ...rows,
  "",
  `Worst p95: ${worst.toFixed(1)} ms (target < 50 ms): ${worst < 50 ? "PASS" : "FAIL"}`,
  "",
  `Latency percentiles, last 7 days (${exact?.calls.toLocaleString("en-US")} calls): ` +
    `p50 histogram ${estimated.p50_ms} ms vs exact ${exact?.p50} ms (${error(estimated.p50_ms, exact?.p50)}), ` +
    `p95 histogram ${estimated.p95_ms} ms vs exact ${exact?.p95} ms (${error(estimated.p95_ms, exact?.p95)})`,
  `Rollup write in the finalize transaction (stats_apply_analysis, 6 calls, 50 runs): ` +
    `p50 ${quantile(applied, 0.5).toFixed(2)} ms, p95 ${quantile(applied, 0.95).toFixed(2)} ms`,
  `Sizes: stats_rollups ${sizes?.rollup_rows.toLocaleString("en-US")} rows, ${sizes?.rollups}; ` +
    `stats_rollup_marks ${sizes?.marks}; llm_calls ${sizes?.calls}`,
];
process.stdout.write(`${out.join("\n")}\n`);
await sql.end();
