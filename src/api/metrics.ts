import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { workerMetricsRegistry } from "../metrics/worker-metrics.js";
import { ANALYSIS_STATUSES } from "../store/analyses-repo.js";
import { LedgerSumsReader } from "../store/ledger-sums-repo.js";
import { countPendingRollups } from "../store/rollups-repo.js";
import { AnalysisStatusCounter } from "../store/status-counts-repo.js";
import { type ApiDeps, queueCheckName } from "./api-deps.js";

export const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const;

/**
 * The API's /metrics. Token, call and cost counters are read from the ledger (sums over
 * `llm_calls`, src/store/ledger-sums-repo.ts) at scrape time, so they equal the ledger wherever
 * the workers run and survive restarts; analyses by status from `stock_analyses`
 * (src/store/status-counts-repo.ts); queue depth from BullMQ. Metrics only a worker can know
 * (the OpenTelemetry GenAI call histograms, live trackers) come from the in-process worker
 * registry.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  // Not gen_ai_client_token_usage: that is the spec's per-call histogram, which the worker
  // registry records as calls end; this is the ledger's running total, read from Postgres.
  readonly #tokens = new Counter({
    name: "stock_ledger_tokens_total",
    help: "Tokens in the ledger (llm_calls: failed attempts and local estimates included); input + output = total",
    labelNames: ["gen_ai_token_type", "gen_ai_request_model", "stage"] as const,
    registers: [this.registry],
  });
  readonly #thinking = new Counter({
    name: "stock_ledger_thinking_tokens_total",
    help: "Thinking tokens from the ledger (a part of stock_ledger_tokens_total output)",
    labelNames: ["gen_ai_request_model", "stage"] as const,
    registers: [this.registry],
  });
  readonly #cached = new Counter({
    name: "stock_ledger_cached_input_tokens_total",
    help: "Cached input tokens from the ledger (a part of stock_ledger_tokens_total input)",
    labelNames: ["gen_ai_request_model", "stage"] as const,
    registers: [this.registry],
  });
  readonly #calls = new Counter({
    name: "stock_ledger_llm_calls_total",
    help: "LLM call attempts in the ledger, by outcome",
    labelNames: ["gen_ai_request_model", "stage", "status"] as const,
    registers: [this.registry],
  });
  readonly #cost = new Counter({
    name: "stock_ledger_cost_usd_total",
    help: "Cost in USD of all LLM calls in the ledger (unpriced calls count 0)",
    labelNames: ["gen_ai_request_model", "stage"] as const,
    registers: [this.registry],
  });
  readonly #analyses = new Gauge({
    name: "stock_ledger_analyses",
    help: "Analyses in the ledger by status",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  readonly #pendingRollups = new Gauge({
    name: "stock_ledger_stats_pending_analyses",
    help: "Finalized analyses not yet folded into the stats rollups (stats count them anyway); workers fold them within a second — a rising figure means no worker is folding",
    registers: [this.registry],
  });
  readonly #queue = new Gauge({
    name: "stock_ledger_queue_jobs",
    help: "Jobs in the BullMQ analyses queue by state",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly #sourceUp = new Gauge({
    name: "stock_ledger_metrics_source_up",
    help: "1 when the last scrape could read this source, else 0 (its metrics keep their last values)",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });

  readonly #ledgerSums: LedgerSumsReader;
  readonly #statusCounts: AnalysisStatusCounter;

  constructor(private readonly deps: Pick<ApiDeps, "sql" | "queue" | "queueBackend" | "logger">) {
    collectDefaultMetrics({ register: this.registry });
    this.#ledgerSums = new LedgerSumsReader(deps.sql);
    this.#statusCounts = new AnalysisStatusCounter(deps.sql);
  }

  readonly contentType = this.registry.contentType;

  /** Refreshes the ledger and queue figures, then renders both registries. */
  async render(): Promise<string> {
    await Promise.all([this.#refreshLedger(), this.#refreshQueue()]);
    return `${await this.registry.metrics()}\n${await workerMetricsRegistry.metrics()}`;
  }

  async #refreshLedger(): Promise<void> {
    const { sql } = this.deps;
    try {
      const [sums, statuses, pending] = await Promise.all([
        this.#ledgerSums.read(),
        this.#statusCounts.read(),
        countPendingRollups(sql),
      ]);
      this.#pendingRollups.set(pending);
      for (const metric of [this.#tokens, this.#thinking, this.#cached, this.#calls, this.#cost])
        metric.reset();
      for (const row of sums) {
        const labels = { gen_ai_request_model: row.model, stage: row.stage };
        this.#tokens.inc({ ...labels, gen_ai_token_type: "input" }, row.input_tokens);
        this.#tokens.inc({ ...labels, gen_ai_token_type: "output" }, row.output_tokens);
        this.#thinking.inc(labels, row.thinking_tokens);
        this.#cached.inc(labels, row.cached_input_tokens);
        this.#calls.inc({ ...labels, status: row.status }, row.calls);
        this.#cost.inc(labels, Number(row.cost_usd));
      }
      for (const status of ANALYSIS_STATUSES) this.#analyses.set({ status }, statuses[status]);
      this.#sourceUp.set({ source: "postgres" }, 1);
    } catch (err) {
      this.deps.logger.warn({ err }, "metrics: cannot read the ledger");
      this.#sourceUp.set({ source: "postgres" }, 0);
    }
  }

  async #refreshQueue(): Promise<void> {
    try {
      const counts = await this.deps.queue.getJobCounts(...QUEUE_STATES);
      for (const state of QUEUE_STATES) this.#queue.set({ state }, counts[state] ?? 0);
      this.#sourceUp.set({ source: queueCheckName(this.deps) }, 1);
    } catch (err) {
      this.deps.logger.warn({ err }, "metrics: cannot read the queue");
      this.#sourceUp.set({ source: queueCheckName(this.deps) }, 0);
    }
  }
}
