import { figuresText, oneLine, retryLabel, stageLabel, statusLabel } from "./progress-view-format.js";
import { type AnalysisView, isSettled, type StageKind, type StageView } from "./progress-view-state.js";

/** Stages shown only in the live block: "pending" is where every stage starts, "not run" is nothing happening. */
const UNREPORTED: ReadonlySet<StageKind> = new Set(["pending", "not_run"]);

const stageKey = (stage: Pick<StageView, "kind" | "attempt" | "batch">) =>
  stage.kind === "retrying"
    ? `retrying#${stage.attempt}`
    : stage.kind === "batched"
      ? `batched#${stage.batch}`
      : stage.kind;

/**
 * Off a terminal: one line per change of a stage's state, never a line twice. Looks at the
 * ledger can be a second apart, so a stage may move more than one step between two; the
 * retries the ledger shows in between still get their line, in order, before the state they
 * led to. Each line's [n/6] counts the stages settled so far, so the last one reads 6/6.
 */
export class ProgressLines {
  /** Last key printed per `${id}/${callType}`. */
  readonly #printed = new Map<string, string>();
  /** Highest retry attempt printed per `${id}/${callType}`. */
  readonly #retried = new Map<string, number>();
  readonly #settled = new Map<string, Set<string>>();
  readonly #ended = new Set<string>();

  lines(view: AnalysisView): string[] {
    if (this.#ended.has(view.id)) return [];
    const prefix = `${view.ticker} ${view.id}:`;
    const settled = this.#settled.get(view.id) ?? new Set<string>();
    this.#settled.set(view.id, settled);
    const out: string[] = [];
    const count = () => `[${settled.size}/${view.total}]`;

    for (const stage of view.stages) {
      const key = `${view.id}/${stage.callType}`;
      for (const retry of stage.retries) {
        if (retry.attempt <= (this.#retried.get(key) ?? 0)) continue;
        this.#retried.set(key, retry.attempt);
        this.#printed.set(key, stageKey({ kind: "retrying", attempt: retry.attempt }));
        settled.delete(stage.callType);
        out.push(`${prefix} ${stage.callType} ${retryLabel(retry.attempt, retry.after)} ${count()}`);
      }
      if (UNREPORTED.has(stage.kind) || this.#printed.get(key) === stageKey(stage)) continue;
      this.#printed.set(key, stageKey(stage));
      if (isSettled(stage.kind)) settled.add(stage.callType);
      else settled.delete(stage.callType);
      const figures = stage.figures ? ` ${figuresText(stage.figures)}` : "";
      out.push(`${prefix} ${stage.callType} ${stageLabel(stage)}${figures} ${count()}`);
    }

    if (view.ended) {
      this.#ended.add(view.id);
      const error = view.error ? `: ${oneLine(view.error)}` : "";
      out.push(
        `${prefix} ${statusLabel(view)} ${figuresText(view.figures)} [${view.done}/${view.total}]${error}`,
      );
    }
    return out;
  }
}
