import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CALL_TYPES } from "../../src/ledger/call-record.js";
import { formatUsd, usdToPico } from "../../src/ledger/money.js";
import { renderHtmlReport } from "../../src/report/render-html.js";
import { renderMarkdownReport } from "../../src/report/render-markdown.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { analyse, importBars, PNG_SIGNATURE, report, sampleBars } from "./report-fixtures.js";

/**
 * What `report` says of real analyses (emulator, Postgres, the chart pipeline on): a completed,
 * a partial and two failed ones, one run without charts, and analyses whose price data changed
 * after they ran.
 */

let h: PipelineHarness;
let completed: AnalysisRow;

const md = (r: Awaited<ReturnType<typeof report>>) => renderMarkdownReport(r, { files: chartFiles(r) });
const chartFiles = (r: Awaited<ReturnType<typeof report>>) =>
  Object.fromEntries((r.charts ?? []).map((c) => [c.callType, `r-${c.callType}.png`]));

/** Asserts the markers appear in this order, each once at least. */
function expectInOrder(text: string, markers: string[]) {
  let from = 0;
  for (const marker of markers) {
    const at = text.indexOf(marker, from);
    expect(at, `"${marker}" after offset ${from}`).toBeGreaterThanOrEqual(0);
    from = at + marker.length;
  }
}

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
  completed = await analyse(h, "RELIANCE");
}, 60_000);
afterAll(() => h?.close());

describe("a completed analysis", () => {
  it("reads ticker, data source and period, decision, every answer in stage order, charts, then cost", async () => {
    expect(completed.status).toBe("completed");
    const r = await report(h, completed.id);
    const bars = await sampleBars("RELIANCE");
    const text = md(r);
    const d = completed.decision as Record<string, number | string>;
    expectInOrder(text, [
      "# RELIANCE — analysis",
      "- **Ticker:** RELIANCE",
      "- **Market data:** synthetic — recorded as “synthetic (seeded) — not real NSE prices”",
      `- **Period:** ${bars[0]?.date} – ${bars.at(-1)?.date} (${bars.length.toLocaleString("en-US")} daily bars, INR)`,
      "- **Price data check:** the bars with the recorded sha256 are still stored",
      "## Decision",
      `- **Action:** ${d.action}`,
      `- **Confidence:** ${Number(d.confidence).toFixed(2)}`,
      `- **Entry:** ${d.entry} INR`,
      `- **Target:** ${d.target} INR`,
      `- **Stop loss:** ${d.stop_loss} INR`,
      `**Rationale:** ${d.rationale}`,
      "## Stage answers",
      ...CALL_TYPES.map((t) => `### ${t}`),
      "## Charts",
      "![comprehensive_overview — overview chart](r-comprehensive_overview.png)",
      "![volume_analysis — volume chart](r-volume_analysis.png)",
      "![reversal_patterns — reversal chart](r-reversal_patterns.png)",
      "![continuation_levels — levels chart](r-continuation_levels.png)",
      "## Tokens and cost",
      `| total | 6 | 0 |`,
      formatUsd(usdToPico(completed.cost_usd ?? "0")),
      "📊 Token Usage Summary for RELIANCE",
    ]);
    expect(text).not.toContain("## Missing stages");
    // Each answer is the stored one, verbatim.
    const stored = await h.db.sql<{ call_type: string; output: string }[]>`
      SELECT call_type, output FROM llm_calls WHERE analysis_id = ${completed.id} AND status = 'success'`;
    for (const call of stored)
      expect(text).toContain(call.call_type === "final_decision" ? call.output : call.output.trim());
  });

  it("regenerates the four charts the stages were shown, byte-identical by their input fingerprints", async () => {
    const r = await report(h, completed.id);
    expect(r.charts?.map((c) => [c.callType, c.kind, c.check])).toEqual([
      ["comprehensive_overview", "overview", "verified"],
      ["volume_analysis", "volume", "verified"],
      ["reversal_patterns", "reversal", "verified"],
      ["continuation_levels", "levels", "verified"],
    ]);
    for (const chart of r.charts ?? []) expect(chart.png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    const html = renderHtmlReport(r);
    expect(html.match(/<img [^>]*src="data:image\/png;base64,iVBORw0KGgo/g)).toHaveLength(4);
  });

  it("says the charts were not shown when the analysis ran with charts off", async () => {
    const plain = await analyse(h, "TCS", { charts: false });
    const r = await report(h, plain.id);
    expect(r.charts?.map((c) => c.check)).toEqual(["not_shown", "not_shown", "not_shown", "not_shown"]);
    expect(md(r)).toContain("Not shown to the model: this analysis ran with charts off.");
  });
});

describe("an analysis that did not finish every stage", () => {
  it("partial: names the stage that failed all its attempts and its last error, and shows the rest", async () => {
    const row = await analyse(h, "INFY", { faults: [{ kind: "server_error", callType: "volume_analysis" }] });
    expect(row.status).toBe("partial");
    const text = md(await report(h, row.id));
    const [last] = await h.db.sql<{ error_type: string; error_message: string }[]>`
      SELECT error_type, error_message FROM llm_calls
      WHERE analysis_id = ${row.id} AND call_type = 'volume_analysis' ORDER BY attempt DESC LIMIT 1`;
    expectInOrder(text, [
      "## Decision",
      "- **Action:**",
      "## Missing stages",
      "This analysis is partial: stages failed: volume_analysis",
      `- **volume_analysis:** failed after 3 attempts; last: server_error (attempt 3): ${last?.error_message.replace(/\s+/g, " ").trim()}`,
      "## Stage answers",
      "### indicator_summary",
      "### comprehensive_overview",
      "### reversal_patterns",
      "### continuation_levels",
      "### final_decision",
      "## Charts",
    ]);
    expect(last?.error_type).toBe("server_error");
    expect(text).not.toContain("### volume_analysis");
  });

  it("failed at final_decision: no decision, and why", async () => {
    const row = await analyse(h, "HDFCBANK", { faults: [{ kind: "auth", callType: "final_decision" }] });
    expect(row.status).toBe("failed");
    const text = md(await report(h, row.id));
    expectInOrder(text, [
      "## Decision",
      "No decision — final_decision failed: auth: HTTP 400: API key not valid",
      "## Missing stages",
      "This analysis is failed: final_decision failed: auth",
      "- **final_decision:** failed after 1 attempt; last: auth (attempt 1): HTTP 400",
      "## Stage answers",
      "### continuation_levels",
      "## Charts",
      "## Tokens and cost",
    ]);
    expect(text).not.toContain("### final_decision");
  });

  it("failed without market data: every stage not run, no source, no period, no charts", async () => {
    const row = await analyse(h, "NOSUCHCO");
    expect(row.status).toBe("failed");
    const r = await report(h, row.id);
    const text = md(r);
    expect(r.charts).toEqual([]);
    expectInOrder(text, [
      "- **Market data:** none — no market data for NOSUCHCO",
      "- **Period:** unknown",
      "No decision — final_decision not run: no market data for NOSUCHCO.",
      "## Missing stages",
      ...CALL_TYPES.map((t) => `- **${t}:** not run: no market data for NOSUCHCO`),
      "No stage answered.",
      "Charts not drawn: the analysis has no price data.",
      "| total | 0 | 0 |",
    ]);
  });
});

describe("price data that changed after the analysis", () => {
  let imported: AnalysisRow;
  let bars: Awaited<ReturnType<typeof sampleBars>>;

  beforeAll(async () => {
    bars = (await sampleBars("RELIANCE")).slice(0, 300);
    await importBars(h, "ACME", bars);
    imported = await analyse(h, "ACME", { imported: true });
  });

  it("an analysis of imported bars: source, period and verified charts", async () => {
    expect(imported.market_data_source).toBe("imported CSV (300 bars)");
    const r = await report(h, imported.id);
    expect(r.prices).toMatchObject({
      plain: "imported",
      check: "same",
      period: { first: bars[0]?.date, last: bars[299]?.date, bars: 300 },
      notes: [],
    });
    expect(r.charts?.every((c) => c.check === "verified")).toBe(true);
    expect(md(r)).toContain("- **Market data:** imported — recorded as “imported CSV (300 bars)”");
  });

  it("bars imported after it: said, and the bars it used are still found among them", async () => {
    const more = (await sampleBars("RELIANCE")).slice(0, 320);
    await importBars(h, "ACME", more);
    const r = await report(h, imported.id);
    expect(r.prices.check).toBe("same");
    expect(r.prices.period).toEqual({ first: bars[0]?.date, last: bars[299]?.date, bars: 300 });
    expect(r.prices.notes).toEqual([
      expect.stringMatching(
        /^Price bars for ACME were imported at .+ UTC, after this analysis started \(.+ UTC\); the bars this analysis used are still among them, unchanged\.$/,
      ),
      "The analysis used 300 of the 320 bars stored now (20 added since).",
    ]);
    expect(r.charts?.every((c) => c.check === "verified")).toBe(true);
    expect(md(r)).toContain("> The analysis used 300 of the 320 bars stored now (20 added since).");
  });

  it("bars rewritten after it: the report says the data changed and draws no charts from other data", async () => {
    const rewritten = (await sampleBars("RELIANCE"))
      .slice(0, 320)
      .map((bar, i) => (i === 10 ? { ...bar, close: bar.close === bar.low ? bar.high : bar.low } : bar));
    await importBars(h, "ACME", rewritten);
    const r = await report(h, imported.id);
    expect(r.prices).toMatchObject({ check: "changed", plain: "imported", period: null, series: null });
    expect(r.charts).toEqual([]);
    const text = md(r);
    expectInOrder(text, [
      "- **Market data:** imported — recorded as “imported CSV (300 bars)”",
      "- **Period:** unknown",
      "- **Price data check:** changed since the analysis ran",
      "> The price data changed since this analysis ran: none of the stored sources still holds the bars it used",
      "## Charts",
      "Charts not drawn: the price data the analysis used is no longer stored (it changed since).",
    ]);
  });

  it("a sample analysis after bars of its ticker were imported: same data, and a new analysis would differ", async () => {
    await importBars(h, "RELIANCE", (await sampleBars("RELIANCE")).slice(0, 100));
    const r = await report(h, completed.id);
    expect(r.prices.check).toBe("same");
    expect(r.prices.plain).toBe("synthetic");
    expect(r.prices.notes).toEqual([
      expect.stringMatching(
        /^Price bars for RELIANCE were imported at .+, after this analysis started \(.+\); a new analysis would read those instead of the data this one used\.$/,
      ),
    ]);
  });
});
