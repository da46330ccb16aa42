import { costText, oneLine, stageLabel, statusLabel, tokensText } from "./progress-view-format.js";
import type { AnalysisView, StageKind } from "./progress-view-state.js";

/** Never wider than this, whatever the terminal: a block stays readable and copy-pastes cleanly. */
export const MAX_WIDTH = 100;

const NAME_WIDTH = 22; // "comprehensive_overview"
const LABEL_WIDTH = 42; // "retrying (attempt 2) after malformed_output"
const TOKENS_WIDTH = 14; // "123,456 tokens"
const COST_WIDTH = 9; // "$0.012345"

export interface FrameSize {
  /** Terminal columns (capped at MAX_WIDTH). */
  columns?: number | undefined;
  /** Terminal rows: a frame taller than the screen could not be redrawn in place. */
  rows?: number | undefined;
}

/** Cuts a line to `width` columns, marking the cut. Lines are ASCII but for the marks below. */
function clip(line: string, width: number): string {
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, width - 1).join("")}…`;
}

/** Shortens an id in the middle, keeping both ends, which is where ids differ. */
function shortenId(id: string, room: number): string {
  if (id.length <= room) return id;
  if (room < 5) return id.slice(0, Math.max(room, 1));
  const head = Math.ceil((room - 1) / 2);
  return `${id.slice(0, head)}…${id.slice(id.length - (room - 1 - head))}`;
}

function header(view: AnalysisView, width: number, lead: string[] = []): string {
  const right = [
    ...lead,
    statusLabel(view),
    `${view.done}/${view.total}`,
    tokensText(view.figures.tokens),
    costText(view.figures.costPico),
  ].join("  ");
  const room = width - view.ticker.length - right.length - 4;
  return `${view.ticker}  ${shortenId(view.id, room)}  ${right}`;
}

function block(view: AnalysisView, width: number): string[] {
  const lines = [header(view, width)];
  for (const stage of view.stages) {
    const figures = stage.figures
      ? `${tokensText(stage.figures.tokens).padStart(TOKENS_WIDTH)}  ${costText(stage.figures.costPico).padStart(COST_WIDTH)}`
      : "";
    const label = clip(stageLabel(stage), LABEL_WIDTH).padEnd(LABEL_WIDTH);
    lines.push(`  ${stage.callType.padEnd(NAME_WIDTH)}  ${label}  ${figures}`.trimEnd());
  }
  if (view.ended && view.error) lines.push(`  ! ${oneLine(view.error)}`);
  return lines;
}

const GLYPHS: Record<StageKind, string> = {
  pending: "·",
  running: "›",
  retrying: "↻",
  success: "✓",
  failed: "✗",
  reused: "=",
  skipped: "-",
  not_run: "-",
  batched: "…",
};

/** One line an analysis, for when the full blocks would not fit on the screen. */
function compact(view: AnalysisView, width: number): string {
  return header(view, width, [view.stages.map((stage) => GLYPHS[stage.kind]).join("")]);
}

/**
 * The live block's text: per analysis a header with its status, settled stages and totals,
 * then each of its six stages with its state and, once its call has landed, its tokens and
 * cost. Every line fits in `columns` (at most 100); when the blocks are taller than the
 * screen, one line per analysis, and beyond that the first ones that fit and a count of the rest.
 */
export function renderFrame(views: AnalysisView[], size: FrameSize = {}): string[] {
  const width = Math.max(Math.min(size.columns ?? MAX_WIDTH, MAX_WIDTH), 20);
  const room = Math.max((size.rows ?? Number.POSITIVE_INFINITY) - 1, 1);
  let lines = views.flatMap((view) => block(view, width));
  if (lines.length > room) {
    lines = views.map((view) => compact(view, width));
    if (lines.length > room) {
      const shown = Math.max(room - 1, 0);
      lines = [...lines.slice(0, shown), `… and ${views.length - shown} more`];
    }
  }
  return lines.map((line) => clip(line, width));
}
