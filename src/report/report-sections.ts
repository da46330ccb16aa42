import { summaryInput } from "../cli/render.js";
import { CALL_TYPES } from "../ledger/call-record.js";
import { formatUsd, usdToPico } from "../ledger/money.js";
import { formatSummary } from "../ledger/summary.js";
import type { BreakdownEntry } from "../ledger/token-tracker.js";
import { TERMINAL_STATUSES } from "../store/analyses-repo.js";
import { capAnswer, type ShownAnswer } from "./answer-text.js";
import type { AnalysisReport } from "./build-report.js";
import type { ChartCheck, ReportChart } from "./report-charts.js";
import type { StageReport } from "./report-data.js";

/**
 * The report's content as plain strings, section by section, in the order DESIGN §12 gives.
 * The Markdown and HTML renderers only lay these out (the HTML one escaping every string),
 * so both formats always say the same thing.
 */

export interface Fact {
  label: string;
  value: string;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();
const time = (date: Date | null) => (date ? `${date.toISOString().slice(0, 19).replace("T", " ")} UTC` : "—");
const usd = (amount: string | number | null | undefined) =>
  amount === null || amount === undefined
    ? "unknown"
    : formatUsd(usdToPico(typeof amount === "number" ? amount.toFixed(12) : amount));

export function reportTitle(report: AnalysisReport): string {
  return `${report.row.ticker} — analysis ${report.row.id}`;
}

const CHECK_TEXT = {
  same: "the bars with the recorded sha256 are still stored: period and charts are exactly what the analysis used",
  changed: "changed since the analysis ran (see below)",
  unverified: "not verifiable (no hash recorded)",
  none: "nothing to check (no price data recorded)",
} as const;

/** Who, when, which model, and what price data. */
export function overviewFacts(report: AnalysisReport): Fact[] {
  const { row, prices } = report;
  const market = prices.label
    ? prices.plain
      ? `${prices.plain} — recorded as “${prices.label}”`
      : `recorded as “${prices.label}”`
    : !TERMINAL_STATUSES.has(row.status)
      ? `not known yet (the analysis is ${row.status})`
      : row.error?.startsWith("no market data")
        ? `none — ${row.error}`
        : "not recorded (the analysis ended before recording its source)";
  const period = prices.period
    ? `${prices.period.first} – ${prices.period.last} (${int(prices.period.bars)} daily bars${
        prices.series ? `, ${prices.series.currency}` : ""
      })`
    : "unknown";
  return [
    { label: "Ticker", value: row.ticker },
    { label: "Analysis ID", value: row.id },
    { label: "Status", value: row.status },
    { label: "Model", value: row.model },
    { label: "Created", value: time(row.created_at) },
    { label: "Started", value: time(row.started_at) },
    { label: "Completed", value: time(row.completed_at) },
    { label: "Market data", value: market },
    { label: "Period", value: period },
    { label: "Price data check", value: CHECK_TEXT[prices.check] },
  ];
}

/** final_decision's answer as stored in stock_analyses.decision, or why there is none. */
export function decisionSection(
  report: AnalysisReport,
): { facts: Fact[]; rationale: string } | { none: string } {
  const d = report.row.decision;
  if (!d) {
    const stage = report.stages.find((s) => s.callType === "final_decision")?.outcome;
    const why =
      stage?.state === "failed"
        ? `final_decision failed: ${stage.lastError.type}: ${oneLine(stage.lastError.message)}`
        : stage?.state === "not_run"
          ? `final_decision ${stage.reason}`
          : "none recorded";
    return { none: `No decision — ${why}.` };
  }
  const currency = report.prices.series?.currency;
  const price = (value: unknown) =>
    typeof value === "number" ? `${value}${currency ? ` ${currency}` : ""}` : String(value ?? "—");
  return {
    facts: [
      { label: "Action", value: String(d.action ?? "—") },
      {
        label: "Confidence",
        value: typeof d.confidence === "number" ? d.confidence.toFixed(2) : String(d.confidence ?? "—"),
      },
      { label: "Entry", value: price(d.entry) },
      { label: "Target", value: price(d.target) },
      { label: "Stop loss", value: price(d.stop_loss) },
    ],
    rationale: typeof d.rationale === "string" ? d.rationale : "—",
  };
}

/** Why a stage has no answer in the report; null when it has one. */
function whyMissing(stage: StageReport): string | null {
  const { outcome } = stage;
  switch (outcome.state) {
    case "answered":
      return null;
    case "failed": {
      const e = outcome.lastError;
      const tries = `${stage.attempts} attempt${stage.attempts === 1 ? "" : "s"}`;
      return `failed after ${tries}; last: ${e.type} (attempt ${e.attempt})${e.message ? `: ${oneLine(e.message)}` : ""}`;
    }
    case "not_run":
      return oneLine(outcome.reason);
    case "lost": {
      const reused = outcome.reusedFrom ? ` (reused from ${outcome.reusedFrom})` : "";
      return `answered${reused}, but the answer's text is no longer stored`;
    }
  }
}

/** The stages without an answer in the report, and why; empty for a complete analysis. */
export function missingStages(report: AnalysisReport): Fact[] {
  const missing: Fact[] = [];
  for (const stage of report.stages) {
    const why = whyMissing(stage);
    if (why !== null) missing.push({ label: stage.callType, value: why });
  }
  return missing;
}

export interface AnswerSection extends ShownAnswer {
  callType: string;
  /** final_decision answers JSON: shown as code, not as Markdown. */
  json: boolean;
  /** Set when another analysis' identical call answered it. */
  reusedFrom: string | null;
}

/** Each answered stage in pipeline order, capped (answer-text.ts). */
export function answerSections(report: AnalysisReport): AnswerSection[] {
  return report.stages.flatMap((stage) =>
    stage.outcome.state === "answered"
      ? [
          {
            callType: stage.callType,
            json: stage.callType === "final_decision",
            reusedFrom: stage.outcome.reusedFrom,
            ...capAnswer(stage.outcome.text, report.row.id),
          },
        ]
      : [],
  );
}

const CHART_CHECK_TEXT: Record<ChartCheck, string> = {
  verified: "Verified: the very image this stage was shown (its recorded input fingerprint matches).",
  not_shown: "Not shown to the model: this analysis ran with charts off. Drawn from the same bars.",
  unverified: "Drawn from the same bars; not confirmed byte-identical to what the stage was shown.",
};

export function chartCaption(chart: ReportChart): string {
  return `${chart.callType} — ${chart.kind} chart: ${chart.title}. ${CHART_CHECK_TEXT[chart.check]}`;
}

/** Why there are no charts, when the price data cannot give them. */
export function noChartsReason(report: AnalysisReport): string | null {
  if (report.prices.series) return null;
  return report.prices.check === "changed"
    ? "Charts not drawn: the price data the analysis used is no longer stored (it changed since)."
    : "Charts not drawn: the analysis has no price data.";
}

/** Call types in pipeline order, then any others (context cache calls) alphabetically, as `summary` orders them. */
function orderedCallTypes(breakdown: Record<string, BreakdownEntry>): string[] {
  const known: string[] = CALL_TYPES.filter((t) => t in breakdown);
  return [
    ...known,
    ...Object.keys(breakdown)
      .filter((t) => !known.includes(t))
      .sort(),
  ];
}

export const COST_HEADER = [
  "Stage",
  "Calls",
  "Failed",
  "Input",
  "Output",
  "Thinking",
  "Cached",
  "Total",
  "Cost",
];

/** One row per call type of the breakdown, then the analysis' totals. */
export function costRows(report: AnalysisReport): string[][] {
  const { row } = report;
  const rows = orderedCallTypes(row.token_usage_breakdown).map((callType) => {
    const e = row.token_usage_breakdown[callType] as BreakdownEntry;
    const cost = e.reused_from
      ? `${usd(e.cost_usd)} (reused; saved ${usd(e.cost_saved_usd)})`
      : e.batch_saved_usd !== undefined
        ? `${usd(e.cost_usd)} (batch; saved ${usd(e.batch_saved_usd)})`
        : usd(e.cost_usd);
    return [
      callType,
      int(e.calls),
      int(e.failed_calls),
      int(e.input_tokens),
      int(e.output_tokens),
      int(e.thinking_tokens),
      int(e.cached_input_tokens),
      int(e.total_tokens),
      cost,
    ];
  });
  rows.push([
    "total",
    int(row.llm_calls_count),
    int(row.failed_calls_count),
    int(row.total_input_tokens),
    int(row.total_output_tokens),
    int(row.thinking_tokens),
    int(row.cached_input_tokens),
    int(row.total_tokens),
    row.cost_usd === null && (row.status === "queued" || row.status === "running")
      ? "n/a"
      : usd(row.cost_usd),
  ]);
  return rows;
}

/** `stock-ledger summary`'s text, verbatim: the report's figures are the ledger's. */
export const tokenSummary = (report: AnalysisReport): string => formatSummary(summaryInput(report.row));
