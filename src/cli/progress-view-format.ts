import { formatUsd } from "../ledger/money.js";
import { TERMINAL_STATUSES } from "../store/analyses-repo.js";
import type { AnalysisView, Figures, StageView } from "./progress-view-state.js";

/** The words both the live block and the line log use, so the two never disagree. */

export const tokensText = (tokens: number) => `${tokens.toLocaleString("en-US")} tokens`;

/** The summary's money format; "unpriced" when a call had no price (its cost is unknown, not zero). */
export const costText = (costPico: Figures["costPico"]) =>
  costPico === null ? "unpriced" : formatUsd(costPico);

export const figuresText = (figures: Figures) =>
  `${tokensText(figures.tokens)} ${costText(figures.costPico)}`;

export function retryLabel(attempt: number, after: string | null): string {
  return `retrying (attempt ${attempt})${after ? ` after ${after}` : ""}`;
}

export function stageLabel(stage: StageView): string {
  switch (stage.kind) {
    case "retrying":
      return retryLabel(stage.attempt, stage.error);
    case "failed":
      return stage.attempt > 0 ? `failed (attempt ${stage.attempt}: ${stage.error ?? "error"})` : "failed";
    case "skipped":
      return "skipped (cap reached)";
    case "not_run":
      return "not run";
    case "batched":
      return stage.batch === "waiting" || !stage.batch ? "waiting for a batch" : `in batch (${stage.batch})`;
    default:
      return stage.kind;
  }
}

/** The analysis' status word; a job that failed before its row ended "did not finish". */
export function statusLabel(view: AnalysisView): string {
  const rowEnded = view.status !== "unknown" && TERMINAL_STATUSES.has(view.status);
  return view.ended && !rowEnded ? "did not finish" : view.status;
}

/** One line of untrusted text (an error message): control characters would move the cursor. */
export const oneLine = (text: string) => text.replace(/\p{Cc}+/gu, " ").trim();
