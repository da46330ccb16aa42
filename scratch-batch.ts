import { createWriteStream } from "node:fs";
import { once } from "node:events";
import v8 from "node:v8";
import { stringify } from "csv-stringify/sync";
import { createSql } from "./src/store/database.js";
import { exportBatches, exportColumns } from "./src/store/export-repo.js";
const batch = Number(process.argv[2]);
if (process.argv[3]) v8.setFlagsFromString(process.argv[3]);
const sql = createSql("postgres://postgres@127.0.0.1:5432/stock_ledger_bench_1");
const columns = await exportColumns(sql, "calls");
const out = createWriteStream("/tmp/batch-test.csv");
let maxHeap = 0; let n = 0;
const t0 = performance.now();
for await (const rows of exportBatches(sql, "calls", columns, { until: new Date("2026-01-20") }, batch)) {
  if (!out.write(stringify(rows))) await once(out, "drain");
  maxHeap = Math.max(maxHeap, process.memoryUsage().heapTotal);
  n += rows.length;
}
out.end(); await once(out, "close");
console.log(`batch ${batch} ${process.argv[3] ?? ""}: ${n} rows ${((performance.now()-t0)/1000).toFixed(1)}s maxRSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB, max heapTotal ${(maxHeap / 1048576).toFixed(0)} MB`);
await sql.end();
