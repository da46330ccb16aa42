import type { AnalysisProgress } from "../queue/analysis-worker.js";
import type { Sql } from "../store/database.js";
import { renderFrame } from "./progress-view-frame.js";
import { type BatchFact, type CallFact, readBatchFacts, readCallFacts } from "./progress-view-ledger.js";
import { ProgressLines } from "./progress-view-lines.js";
import { type AnalysisView, analysisView } from "./progress-view-state.js";
import { LiveBlock, type TerminalOut } from "./progress-view-tty.js";
import type { WaitLook, WaitOptions } from "./wait-for-analyses.js";

export interface WaitViewOptions {
  sql: Sql;
  analyses: { id: string; ticker: string }[];
  /** Where progress goes (stderr, so stdout stays clean): a live block on a TTY, lines otherwise. */
  out: TerminalOut & { isTTY?: boolean };
  /** The worker's attempts per call (LLM_MAX_ATTEMPTS). */
  maxAttempts: number;
}

/**
 * The `--wait` progress view, as the two hooks of waitForAnalyses. Progress events only say
 * which stages the job reported (reuse, a skip, a stage about to call); at each look the
 * view reads the analyses' calls from the ledger, so tokens, costs, retries and the final
 * state come from what was recorded, whichever events were throttled away or lost.
 */
export function createWaitView(
  options: WaitViewOptions,
): Required<Pick<WaitOptions, "onProgress" | "onLook">> {
  const { sql, out, maxAttempts } = options;
  const tickers = new Map(options.analyses.map((a) => [a.id, a.ticker]));
  const reported = new Map<string, AnalysisProgress["stages"]>();
  const views = new Map<string, AnalysisView>();
  const live = out.isTTY ? new LiveBlock(out) : null;
  const log = new ProgressLines();

  const show = (changed: AnalysisView[]) => {
    if (live) {
      const ordered = options.analyses.flatMap((a) => views.get(a.id) ?? []);
      live.draw(renderFrame(ordered, { columns: out.columns, rows: out.rows }));
      return;
    }
    const lines = changed.flatMap((view) => log.lines(view));
    if (lines.length > 0) out.write(`${lines.join("\n")}\n`);
  };

  return {
    onProgress(id, progress) {
      if (progress?.stages) reported.set(id, progress.stages);
    },
    async onLook({ rows, ended }: WaitLook) {
      // Taken before the ledger is read: a stage the job reported ended has its row committed
      // by then, so the read below has its tokens and cost.
      const stages = new Map(reported);
      const rowsById = new Map(rows.map((row) => [row.id, row]));
      const failures = new Map(ended.map((outcome) => [outcome.id, outcome.jobFailure]));
      const ids = [...new Set([...rowsById.keys(), ...failures.keys()])].filter((id) => tickers.has(id));
      let calls: Map<string, CallFact[]>;
      let batched: Map<string, BatchFact[]>;
      try {
        [calls, batched] = await Promise.all([readCallFacts(sql, ids), readBatchFacts(sql, ids)]);
      } catch {
        // A display must not fail the wait: the next look tries again (an analysis that ended
        // at this one is not looked at again; the summaries after the wait still say how).
        return;
      }
      const changed = ids.map((id) => {
        const view = analysisView({
          id,
          ticker: tickers.get(id) ?? "",
          row: rowsById.get(id) ?? ended.find((o) => o.id === id)?.row ?? null,
          reported: stages.get(id),
          calls: calls.get(id) ?? [],
          batched: batched.get(id),
          jobFailure: failures.get(id) ?? null,
          maxAttempts,
        });
        views.set(id, view);
        return view;
      });
      show(changed);
    },
  };
}
