import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { runCli } from "../helpers/cli.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { DATABASE_POOLING, QUEUE_BACKEND } from "../helpers/services.js";
import { analyse, PNG_SIGNATURE } from "./report-fixtures.js";

/** `stock-ledger report` run as a user runs it, on an analysis the real pipeline made. */

let h: PipelineHarness;
let row: AnalysisRow;
let dir: string;
const env = () => ({ DATABASE_URL: h.db.url, QUEUE_BACKEND, DATABASE_POOLING });
const CHART_FILES = [
  "r-comprehensive_overview.png",
  "r-volume_analysis.png",
  "r-reversal_patterns.png",
  "r-continuation_levels.png",
];

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
  row = await analyse(h, "INFY");
  dir = await mkdtemp(path.join(tmpdir(), "sl-report-"));
}, 60_000);
afterAll(async () => {
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("stock-ledger report", () => {
  it("--out FILE.md writes the report and the four charts beside it, linked by relative names", async () => {
    const out = path.join(dir, "r.md");
    const result = await runCli(["report", row.id, "--out", out], env());
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`wrote ${out} and 4 charts beside it: ${CHART_FILES.join(", ")}\n`);
    expect((await readdir(dir)).sort()).toEqual(["r.md", ...CHART_FILES].sort());
    for (const file of CHART_FILES) {
      const png = await readFile(path.join(dir, file));
      expect(png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
      expect(png.length).toBeGreaterThan(10_000);
    }
    const md = await readFile(out, "utf8");
    expect(md).toMatch(/^# INFY — analysis /);
    for (const file of CHART_FILES) expect(md).toContain(`](${file})`);
    expect(md).toContain("Verified: the very image this stage was shown");
  });

  it("prints Markdown to stdout by default, saying how to get the charts", async () => {
    const result = await runCli(["report", row.id], env());
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^# INFY — analysis /);
    expect(result.stdout).toContain(
      "- **Market data:** synthetic — recorded as “synthetic (seeded) — not real NSE prices”",
    );
    expect(result.stdout).toContain("with `--out FILE.md` they are written as PNG files beside it");
    expect(result.stdout).not.toContain(".png");
  });

  it("--format html prints one page with the charts embedded; with --out it writes it", async () => {
    const printed = await runCli(["report", row.id, "--format", "html"], env());
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^<!doctype html>\n/);
    expect(printed.stdout.match(/<img [^>]*src="data:image\/png;base64,/g)).toHaveLength(4);
    expect(printed.stdout).toContain(
      '<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;',
    );

    const out = path.join(dir, "r.html");
    const written = await runCli(["report", row.id, "--format", "html", "--out", out], env());
    expect(written.code).toBe(0);
    expect(written.stdout).toMatch(new RegExp(`^wrote ${out}: \\d+ KB, charts embedded\\n$`));
    expect(await readFile(out, "utf8")).toBe(printed.stdout);
  });

  it("a bad format is bad usage: exit 2, one line, nothing printed", async () => {
    const result = await runCli(["report", row.id, "--format", "pdf"], env());
    expect(result).toEqual({
      code: 2,
      stdout: "",
      stderr: 'stock-ledger: invalid format "pdf": must be one of md, html\n',
    });
  });

  it("an unknown id is a runtime failure as in `summary`: exit 1, one line", async () => {
    const result = await runCli(["report", "nope-1"], env());
    expect(result).toEqual({ code: 1, stdout: "", stderr: "stock-ledger: analysis nope-1 not found\n" });
    const summary = await runCli(["summary", "nope-1"], env());
    expect(summary).toEqual(result);
  });

  it("refuses a bad id and an --out in a missing folder before reading anything (exit 2)", async () => {
    const badId = await runCli(["report", "007"], env());
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/^stock-ledger: invalid analysis id "007": [^\n]+\n$/);
    const missing = path.join(dir, "nowhere", "r.md");
    const badOut = await runCli(["report", row.id, "--out", missing], env());
    expect(badOut).toEqual({
      code: 2,
      stdout: "",
      stderr: `stock-ledger: cannot write ${missing}: no such directory ${path.dirname(missing)}\n`,
    });
  });
});
