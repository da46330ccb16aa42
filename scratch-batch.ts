import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { stringify } from "csv-stringify/sync";
import { createSql } from "./src/store/database.js";
import { exportBatches, exportColumns } from "./src/store/export-repo.js";
const batch = Number(process.argv[2]);
const sql = createSql("postgres://postgres@127.0.0.1:5432/stock_ledger_bench_0_01");
const columns = await exportColumns(sql, "calls");
const out = createWriteStream("/tmp/batch-test.csv");
let maxHeap = 0;
for (let pass = 0; pass < 3; pass++) for await (const rows of exportBatches(sql, "calls", columns, {}, batch)) {
  if (!out.write(stringify(rows))) await once(out, "drain");
  maxHeap = Math.max(maxHeap, process.memoryUsage().heapTotal);
}
out.end(); await once(out, "close");
console.log(`batch ${batch}: maxRSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB, max heapTotal ${(maxHeap / 1048576).toFixed(0)} MB`);
await sql.end();
