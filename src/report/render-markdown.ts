import { closeOpenFence } from "./answer-text.js";
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

/**
 * Where the Markdown report's charts are: PNG files beside it (names relative to the report),
 * or a sentence saying why they are not part of it.
 */
export type MarkdownCharts = { files: Record<string, string> } | { note: string };

const facts = (list: Fact[]) => list.map((f) => `- **${f.label}:** ${f.value}`).join("\n");

/** A code block whose fence no backtick run in the text can close early. */
function fenced(text: string, info = ""): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${text}\n${fence}`;
}

/** A link destination that survives spaces and parentheses in a file name. */
const destination = (file: string) => (/[\s()<>]/.test(file) ? `<${file.replace(/[<>]/g, "")}>` : file);

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  const align = header.map((_, i) => (i === 0 ? "---" : "---:"));
  return [line(header), line(align), ...rows.map(line)].join("\n");
}

function chartsSection(report: AnalysisReport, charts: MarkdownCharts): string[] {
  const lines = ["## Charts", ""];
  const reason = noChartsReason(report);
  if (reason) return [...lines, reason];
  if ("note" in charts || !report.charts) return [...lines, "note" in charts ? charts.note : ""];
  for (const chart of report.charts) {
    const file = charts.files[chart.callType];
    if (!file) continue;
    if (lines.length > 2) lines.push("");
    lines.push(
      `![${chart.callType} — ${chart.kind} chart](${destination(file)})`,
      "",
      `*${chartCaption(chart)}*`,
    );
  }
  return lines;
}

/** The report as Markdown, in the order of DESIGN §12. Model answers are included as written. */
export function renderMarkdownReport(report: AnalysisReport, charts: MarkdownCharts): string {
  const out: string[] = [`# ${reportTitle(report)}`, "", facts(overviewFacts(report))];
  for (const note of report.prices.notes) out.push("", `> ${note}`);

  out.push("", "## Decision", "");
  const decision = decisionSection(report);
  if ("none" in decision) out.push(decision.none);
  else out.push(facts(decision.facts), "", `**Rationale:** ${decision.rationale}`);

  const missing = missingStages(report);
  if (missing.length > 0 || report.row.error) {
    out.push("", "## Missing stages", "");
    if (report.row.error) out.push(`This analysis is ${report.row.status}: ${report.row.error}`, "");
    if (missing.length > 0) out.push(facts(missing));
  }

  out.push("", "## Stage answers");
  const answers = answerSections(report);
  if (answers.length === 0) out.push("", "No stage answered.");
  for (const answer of answers) {
    out.push("", `### ${answer.callType}`, "");
    if (answer.reusedFrom)
      out.push(`*Reused from analysis ${answer.reusedFrom} (same input, not billed again).*`, "");
    out.push(answer.json ? fenced(answer.text, "json") : closeOpenFence(answer.text));
    if (answer.truncatedNote) out.push("", `*${answer.truncatedNote}*`);
  }

  out.push("", ...chartsSection(report, charts));
  out.push(
    "",
    "## Tokens and cost",
    "",
    table(COST_HEADER, costRows(report)),
    "",
    "As `stock-ledger summary` prints it:",
    "",
    fenced(tokenSummary(report), "text"),
    "",
  );
  return out.join("\n");
}
