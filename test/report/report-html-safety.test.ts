import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ANSWER_CHARS } from "../../src/report/answer-text.js";
import { REPORT_CSP, renderHtmlReport } from "../../src/report/render-html.js";
import { renderMarkdownReport } from "../../src/report/render-markdown.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { analyse, report } from "./report-fixtures.js";

/**
 * Model answers are untrusted Markdown. Whatever a model (or a poisoned prompt) writes, the
 * HTML report must stay inert: no script, no markup of the model's, nothing loaded from
 * anywhere, and a runaway answer capped. The hostile text is stored where the pipeline keeps
 * answers (llm_calls.output, stock_analyses.decision, error messages).
 */

const HOSTILE = [
  "**Bold claim** with <script>alert(1)</script> and <SCRIPT SRC=http://evil.example/x.js></SCRIPT>",
  "",
  '<img src=http://evil.example/pixel.png onerror="alert(2)"> <img src="https://evil.example/a.png">',
  "",
  '[click me](javascript:alert(3)) <a href="javascript:alert(4)">link</a> [jv](JaVaScRiPt:alert(5))',
  "",
  "![chart](http://evil.example/chart.png) <http://evil.example/auto> <javascript:alert(6)>",
  "",
  "[ref]: javascript:alert(7)",
  "",
  '<iframe src="http://evil.example/frame"></iframe><style>body{display:none}</style><svg onload=alert(8)>',
  "",
  "<div>",
  "<script>alert(9)</script>",
  "</div>",
  "",
  '<meta http-equiv="refresh" content="0;url=http://evil.example/">',
  "",
  "| level | price |",
  "| --- | --- |",
  "| support <b onmouseover=alert(10)>x</b> | 100 |",
  "",
  "```html",
  "<script>alert(11)</script>",
].join("\n");

const TAGS_ALLOWED = new Set(
  "html head meta title style body h1 h2 h3 h4 h5 h6 dl dt dd p strong em s section div pre code ul ol li table thead tbody tr th td figure img figcaption details summary blockquote hr br".split(
    " ",
  ),
);

let h: PipelineHarness;
let html: string;
let markdown: string;

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
  const row = await analyse(h, "RELIANCE", {
    faults: [{ kind: "server_error", callType: "volume_analysis" }],
  });
  const sql = h.db.sql;
  await sql`UPDATE llm_calls SET output = ${HOSTILE} WHERE analysis_id = ${row.id} AND call_type = 'indicator_summary'`;
  // A megabyte of answer, hostile all along.
  const huge = "<script>alert('big')</script> **x** ".repeat(Math.ceil(1_048_576 / 36)).slice(0, 1_048_576);
  await sql`UPDATE llm_calls SET output = ${huge} WHERE analysis_id = ${row.id} AND call_type = 'comprehensive_overview'`;
  await sql`
    UPDATE llm_calls SET output = ${'{"rationale": "</code></pre><script>alert(12)</script>"}'}
    WHERE analysis_id = ${row.id} AND call_type = 'final_decision'`;
  await sql`
    UPDATE llm_calls SET error_message = ${"<img src=http://evil.example/e.png> <script>alert(13)</script>"}
    WHERE analysis_id = ${row.id} AND call_type = 'volume_analysis'`;
  await sql`
    UPDATE stock_analyses
    SET decision = decision || ${sql.json({ rationale: '<script>alert(14)</script> <a href="javascript:alert(15)">x</a>', action: "<b>BUY</b>" })},
        error = ${"stages failed: <script>alert(16)</script>"}
    WHERE id = ${row.id}`;
  const r = await report(h, row.id);
  html = renderHtmlReport(r);
  markdown = renderMarkdownReport(r, { note: "no charts here" });
}, 60_000);
afterAll(() => h?.close());

describe("HTML report of hostile model output", () => {
  it("contains no script, no event handler, no javascript: and no remote source in any tag", () => {
    // Tested with .test(): on failure the whole page would otherwise be printed.
    expect(/<script/i.test(html)).toBe(false);
    expect(/src="http/i.test(html)).toBe(false);
    // The model's "javascript:" and "http://" are still there to read, as escaped text; no tag carries one.
    const tags = html.match(/<[^>]*>/g) ?? [];
    expect(tags.length).toBeGreaterThan(50);
    for (const tag of tags) {
      expect(tag).not.toMatch(/javascript:/i);
      expect(tag).not.toMatch(/\son\w+\s*=/i);
      expect(tag).not.toMatch(/\s(href|action|formaction|srcset|background|http-equiv="refresh")/i);
      // (Base64 has "//" in it: a chart's data: source is checked below instead.)
      expect(tag.replace(/ src="data:image\/png;base64,[A-Za-z0-9+/=]+"/, "")).not.toMatch(/https?:|\/\//i);
    }
  });

  it("uses only the report's own tags: the model's markup is text, its Markdown is rendered", () => {
    const names = new Set(
      (html.match(/<\/?([a-zA-Z][a-zA-Z0-9]*)/g) ?? []).map((t) => t.replace(/^<\/?/, "").toLowerCase()),
    );
    for (const name of names) expect(TAGS_ALLOWED, `<${name}>`).toContain(name);
    expect(html.match(/<style/g)).toHaveLength(1);
    expect(html.match(/<meta/g)).toHaveLength(4);
    // Every image is one of the four charts, inline.
    const images = html.match(/<img [^>]*>/g) ?? [];
    expect(images).toHaveLength(4);
    for (const img of images) expect(img).toMatch(/ src="data:image\/png;base64,[A-Za-z0-9+/=]+"/);
    // The hostile text is there to read, escaped; the Markdown around it still renders.
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("<strong>Bold claim</strong>");
    expect(html).toContain("<table>");
    expect(html).toContain("&lt;script&gt;alert(14)&lt;/script&gt;");
    expect(html).toContain("&lt;b&gt;BUY&lt;/b&gt;");
    expect(html).toContain("&lt;script&gt;alert(16)&lt;/script&gt;");
  });

  it("declares a strict Content-Security-Policy: nothing but its own style and data: images", () => {
    expect(REPORT_CSP).toMatch(/^default-src 'none'; img-src data:; style-src 'sha256-[A-Za-z0-9+/=]+'; /);
    expect(REPORT_CSP).not.toContain("unsafe");
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP.replaceAll("'", "&#39;")}">`,
    );
    expect(html).toContain('<meta name="referrer" content="no-referrer">');
  });

  it("caps a 1 MB answer with a note, in HTML and in Markdown", () => {
    const note = `Answer truncated: ${(MAX_ANSWER_CHARS).toLocaleString("en-US")} of 1,048,576 characters shown`;
    expect(html).toContain(note);
    expect(markdown).toContain(note);
    const section = html.slice(
      html.indexOf("<h3>comprehensive_overview</h3>"),
      html.indexOf("<h3>reversal_patterns</h3>"),
    );
    expect(section.length).toBeLessThan(200_000);
    // Four charts (~650 kB of base64) plus the capped answers.
    expect(html.length).toBeLessThan(1_200_000);
    expect(markdown.length).toBeLessThan(60_000);
  });

  it("closes a code fence the answer left open, so the rest of the Markdown report stays Markdown", () => {
    const after = markdown.slice(markdown.indexOf("<script>alert(11)</script>"));
    expect(after).toMatch(/^<script>alert\(11\)<\/script>\n```\n/);
  });
});
