import { createHash } from "node:crypto";
import type { AnalysisReport } from "./build-report.js";
import {
  answerSections,
  COST_HEADER,
  chartCaption,
  costRows,
  decisionSection,
  type Fact,
  missingStages,
  noChartsReason,
  overviewFacts,
  reportTitle,
  tokenSummary,
} from "./report-sections.js";
import { escapeHtml, markdownToSafeHtml } from "./safe-markdown.js";

/**
 * The report as one self-contained HTML page: no script at all, nothing loaded from anywhere
 * (the charts are data: PNGs, the style is inline), every string escaped, and model answers
 * through markdownToSafeHtml. The Content-Security-Policy below says the same to the browser,
 * so even markup that slipped past the escaping could neither run nor load anything.
 */

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; color: #1a1a1a; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.note { border-left: 4px solid #d97706; background: #fff7ed; padding: .4rem .8rem; margin: .6rem 0; }
.answer { overflow-wrap: anywhere; }
.answer table, table.costs { border-collapse: collapse; }
.answer th, .answer td, table.costs th, table.costs td { border: 1px solid #ddd; padding: .2rem .5rem; }
table.costs td:not(:first-child), table.costs th:not(:first-child) { text-align: right; }
table.costs tr:last-child { font-weight: 600; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: .9rem; }
details { margin-top: 1rem; }
.muted { color: #666; font-style: italic; }
`;

/**
 * Nothing but this page's own inline style and data: images. `default-src 'none'` leaves no
 * script, font, frame, connection or remote image allowed; the style is allowed by its hash,
 * not by 'unsafe-inline', so no injected style attribute or element would apply either.
 */
export const REPORT_CSP = [
  "default-src 'none'",
  "img-src data:",
  `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * The HTTP header form: frame-ancestors only works there (a meta tag cannot carry it); 'self'
 * lets the dashboard show the report in a frame of its own origin, and no other site.
 */
export const REPORT_CSP_HEADER = `${REPORT_CSP}; frame-ancestors 'self'`;

const dl = (list: Fact[]) =>
  `<dl class="facts">${list.map((f) => `<dt>${escapeHtml(f.label)}</dt><dd>${escapeHtml(f.value)}</dd>`).join("")}</dl>`;

const note = (text: string) => `<p class="note">${escapeHtml(text)}</p>`;

function costTable(report: AnalysisReport): string {
  const head = COST_HEADER.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const body = costRows(report)
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")}</tr>`)
    .join("");
  return `<table class="costs"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function chartsHtml(report: AnalysisReport): string {
  const reason = noChartsReason(report);
  if (reason || !report.charts) return `<p class="muted">${escapeHtml(reason ?? "Charts not drawn.")}</p>`;
  return report.charts
    .map(
      (chart) =>
        `<figure><img alt="${escapeHtml(`${chart.callType} — ${chart.kind} chart`)}" width="1024" height="768" ` +
        `src="data:image/png;base64,${chart.png.toString("base64")}"><figcaption>${escapeHtml(chartCaption(chart))}</figcaption></figure>`,
    )
    .join("\n");
}

export function renderHtmlReport(report: AnalysisReport): string {
  const title = reportTitle(report);
  const body: string[] = [`<h1>${escapeHtml(title)}</h1>`, dl(overviewFacts(report))];
  body.push(...report.prices.notes.map(note));

  body.push("<h2>Decision</h2>");
  const decision = decisionSection(report);
  if ("none" in decision) body.push(`<p>${escapeHtml(decision.none)}</p>`);
  else {
    body.push(dl(decision.facts), `<p><strong>Rationale:</strong> ${escapeHtml(decision.rationale)}</p>`);
  }

  const missing = missingStages(report);
  if (missing.length > 0 || report.row.error) {
    body.push("<h2>Missing stages</h2>");
    if (report.row.error) body.push(note(`This analysis is ${report.row.status}: ${report.row.error}`));
    if (missing.length > 0) body.push(dl(missing));
  }

  body.push("<h2>Stage answers</h2>");
  const answers = answerSections(report);
  if (answers.length === 0) body.push('<p class="muted">No stage answered.</p>');
  for (const answer of answers) {
    body.push(`<section><h3>${escapeHtml(answer.callType)}</h3>`);
    if (answer.reusedFrom) {
      body.push(
        `<p class="muted">Reused from analysis ${escapeHtml(answer.reusedFrom)} (same input, not billed again).</p>`,
      );
    }
    body.push(
      answer.json
        ? `<pre><code>${escapeHtml(answer.text)}</code></pre>`
        : `<div class="answer">${markdownToSafeHtml(answer.text)}</div>`,
    );
    if (answer.truncatedNote) body.push(note(answer.truncatedNote));
    body.push("</section>");
  }

  body.push("<h2>Charts</h2>", chartsHtml(report));
  body.push(
    "<h2>Tokens and cost</h2>",
    costTable(report),
    // Closed by default: the table above is the overview; this is the ledger's exact text.
    `<details><summary>As <code>stock-ledger summary</code> prints it</summary><pre>${escapeHtml(tokenSummary(report))}</pre></details>`,
  );

  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(REPORT_CSP)}">`,
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    ...body,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
