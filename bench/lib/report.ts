/** The rows every bench returns, and the table `run-all` prints. */
import path from "node:path";
import { pathToFileURL } from "node:url";

export interface BenchRow {
  metric: string;
  baseline: string;
  value: string;
  ratio: string;
  target: string;
  /** null: informational, no target; "smoke": a target, not judged at a smoke-test size. */
  pass: boolean | null | "smoke";
}

export interface BenchResult {
  name: string;
  rows: BenchRow[];
  /** Free-form lines (load, sizes, durations) printed under the table. */
  notes: string[];
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

export const fmt = (value: number, digits = 1): string =>
  Number.isFinite(value)
    ? value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "n/a";

export const row = (fields: Partial<BenchRow> & { metric: string }): BenchRow => ({
  baseline: "",
  value: "",
  ratio: "",
  target: "",
  pass: null,
  ...fields,
});

export function formatTable(rows: BenchRow[]): string {
  const header = ["metric", "baseline", "stock-ledger", "ratio", "target", "pass/fail"];
  const lines = rows.map((r) => [
    r.metric,
    r.baseline,
    r.value,
    r.ratio,
    r.target,
    r.pass === null ? "info" : r.pass === "smoke" ? "smoke" : r.pass ? "PASS" : "FAIL",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmtLine = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [fmtLine(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(fmtLine)].join(
    "\n",
  );
}

export function printResult(result: BenchResult): void {
  console.log(`\n## ${result.name}\n`);
  console.log(formatTable(result.rows));
  if (result.notes.length > 0) console.log(`\n${result.notes.map((n) => `- ${n}`).join("\n")}`);
}

/** `--name value` from argv, parsed as a number; `fallback` when absent. */
export function numberArg(argv: string[], name: string, fallback: number): number {
  const at = argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`bench: --${name} needs a number\n`);
    process.exit(2);
  }
  return value;
}

export function stringArg(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(`--${name}`);
  return at < 0 ? undefined : argv[at + 1];
}

/** True when this module is the script node was started with (not imported by run-all). */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && importMetaUrl === pathToFileURL(path.resolve(entry)).href;
}
