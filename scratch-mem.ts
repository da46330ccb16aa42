import { createSql } from "./src/store/database.js";
import { exportBatches, exportColumns } from "./src/store/export-repo.js";
import { stringify } from "csv-stringify/sync";
const sql = createSql("postgres://postgres@127.0.0.1:5432/stock_ledger_bench_0_01");
const columns = await exportColumns(sql, "calls");
let n = 0;
const mb = (x: number) => (x / 1048576).toFixed(0);
const t0 = performance.now();
for await (const rows of exportBatches(sql, "calls", columns, {})) {
  const text = stringify(rows.map((r) => columns.map((c) => { const v = r[c]; return v === null || v === undefined ? "" : v instanceof Date ? v.toISOString() : typeof v === "object" ? JSON.stringify(v) : String(v); })));
  n += rows.length;
  if (n % 10000 === 0) { const m = process.memoryUsage(); console.log(n, "rss", mb(m.rss), "heapUsed", mb(m.heapUsed), "heapTotal", mb(m.heapTotal), "ext", mb(m.external), "ab", mb(m.arrayBuffers), ((performance.now()-t0)/1000).toFixed(1)); }
}
await sql.end();
