/**
 * `import-prices` end to end: a 10-year daily CSV for one ticker (2,520 rows, Yahoo's column
 * layout) imported by the real CLI in a child process, as a user runs it. Also times the
 * pieces in-process (CSV validation, the one-statement upsert) and bare CLI start-up, so a
 * slow run can be read. Target: under 2 s end to end.
 *
 *   npx tsx bench/import-bench.ts [runs]
 *
 * Needs Postgres (TEST_PG_URL or postgres://postgres@127.0.0.1:5432); uses a fresh database
 * and drops it afterwards.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { logger } from "../src/logger.js";
import { parsePriceCsv } from "../src/market/csv.js";
import { projectRoot } from "../src/paths.js";
import { createSql, splitDatabaseUrl } from "../src/store/database.js";
import { migrate } from "../src/store/migrate.js";
import { countPriceBars, importPriceBars } from "../src/store/price-bars-repo.js";

const RUNS = Number(process.argv[2] ?? 5);
const ROWS = 2520; // 10 years × 252 sessions
const PG = process.env.TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const CLI = path.join(projectRoot, "bin", "stock-ledger.js");

/** Seeded random walk, weekdays from 2015-01-01, with an Adj Close column the import ignores. */
function tenYearCsv(): string {
  let seed = 20_150_101;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const lines = ["Date,Open,High,Low,Close,Adj Close,Volume"];
  const day = new Date("2015-01-01T00:00:00Z");
  let close = 1000;
  while (lines.length <= ROWS) {
    if (day.getUTCDay() !== 0 && day.getUTCDay() !== 6) {
      const open = close * (1 + (random() - 0.5) * 0.01);
      close = open * (1 + (random() - 0.5) * 0.03);
      const high = Math.max(open, close) * (1 + random() * 0.01);
      const low = Math.min(open, close) * (1 - random() * 0.01);
      const volume = Math.round(5e6 + random() * 5e6);
      const row = [open, high, low, close, close * 0.98].map((v) => v.toFixed(2));
      lines.push([day.toISOString().slice(0, 10), ...row, volume].join(","));
    }
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return `${lines.join("\n")}\n`;
}

function cli(args: string[], databaseUrl: string): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", DATABASE_URL: databaseUrl },
    encoding: "utf8",
  });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`stock-ledger ${args.join(" ")} failed: ${result.stderr}`);
  return ms;
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return `median ${median.toFixed(0)} ms (min ${sorted[0]?.toFixed(0)}, max ${sorted.at(-1)?.toFixed(0)})`;
}

const databaseUrl = `${PG}/sl_bench_import_${process.pid}`;
const dir = mkdtempSync(path.join(tmpdir(), "sl-import-bench-"));
const file = path.join(dir, "ten-years.csv");
writeFileSync(file, tenYearCsv());
await migrate(databaseUrl, logger.child({}, { level: "warn" }));
const sql = createSql(databaseUrl, { max: 2 });
try {
  const text = readFileSync(file, "utf8");
  const startup: number[] = [];
  const fresh: number[] = [];
  const again: number[] = [];
  const parse: number[] = [];
  const upsert: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    startup.push(cli(["--help"], databaseUrl));
    fresh.push(cli(["import-prices", file, "--ticker", `BENCH${run}`], databaseUrl));
    again.push(cli(["import-prices", file, "--ticker", `BENCH${run}`], databaseUrl));
    let started = performance.now();
    const bars = parsePriceCsv(text, { ticker: `INPROC${run}` });
    parse.push(performance.now() - started);
    started = performance.now();
    await importPriceBars(sql, bars, { currency: null });
    upsert.push(performance.now() - started);
  }
  const rows = await countPriceBars(sql, { ticker: "BENCH1" });
  if (rows !== ROWS) throw new Error(`expected ${ROWS} rows for BENCH1, found ${rows}`);
  const median = [...fresh].sort((a, b) => a - b)[Math.floor(fresh.length / 2)] ?? 0;
  console.log(`import-prices, ${ROWS}-row (10-year) CSV for one ticker, ${RUNS} runs`);
  console.log(`  CLI start-up alone (--help)     ${stats(startup)}`);
  console.log(`  first import, end to end (CLI)  ${stats(fresh)}`);
  console.log(`  re-import (all rows updated)    ${stats(again)}`);
  console.log(`  in-process: parse + validate    ${stats(parse)}`);
  console.log(`  in-process: one-statement upsert in a transaction  ${stats(upsert)}`);
  console.log(`  target < 2000 ms end to end: ${median < 2000 ? "met" : "MISSED"}`);
} finally {
  await sql.end();
  rmSync(dir, { recursive: true, force: true });
  const { name, maintenanceUrl } = splitDatabaseUrl(databaseUrl);
  const admin = createSql(maintenanceUrl, { max: 1 });
  await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
}
