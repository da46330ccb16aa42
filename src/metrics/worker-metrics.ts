import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { MarketInputsStats } from "../analysis/market-inputs.js";
import type { CallRecord } from "../ledger/call-record.js";
import type { TrackerRegistry } from "../ledger/tracker-registry.js";

/**
 * Metrics only the process running analyses can know: how long each LLM call took, how
 * long analyses took, how many trackers are live. Token and cost counters are not here:
 * the API derives them from the ledger in Postgres, so they hold wherever the worker runs.
 * Names follow OpenTelemetry's GenAI conventions where one exists (dots become underscores).
 */
export const workerMetricsRegistry = new Registry();

// OpenTelemetry's advised buckets for gen_ai.client.operation.duration.
const OPERATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

const operationDuration = new Histogram({
  name: "gen_ai_client_operation_duration_seconds",
  help: "Duration of each LLM call attempt (GenAI client operation), failed attempts included",
  labelNames: [
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "stage",
    "error_type",
  ] as const,
  buckets: OPERATION_BUCKETS,
  registers: [workerMetricsRegistry],
});

const analysisDuration = new Histogram({
  name: "stock_ledger_analysis_duration_seconds",
  help: "Wall time of finished analyses in this process, by final status",
  labelNames: ["status", "model"] as const,
  buckets: [1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640],
  registers: [workerMetricsRegistry],
});

const analysesFinished = new Counter({
  name: "stock_ledger_analyses_finished_total",
  help: "Analyses finalized by this process, by final status",
  labelNames: ["status"] as const,
  registers: [workerMetricsRegistry],
});

const ledgerWriteWait = new Histogram({
  name: "stock_ledger_ledger_write_wait_seconds",
  help: "From a ledger write's submit to its commit (batching wait included): a run's claim, each call's start marker and closing row, its finalize. An analysis waits for about six of them in turn",
  labelNames: ["write"] as const,
  buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  registers: [workerMetricsRegistry],
});

/** Pass to the ledger writers (CallWriter, AnalysisWriter) as their `observeWait`. */
export function recordLedgerWriteWait(write: "claim" | "call" | "finalize", seconds: number): void {
  ledgerWriteWait.observe({ write }, seconds);
}

const watchedRegistries = new Set<TrackerRegistry>();

new Gauge({
  name: "stock_ledger_live_trackers",
  help: "Token trackers live in this process (analyses in flight); 0 when the worker is idle",
  registers: [workerMetricsRegistry],
  collect() {
    let size = 0;
    for (const registry of watchedRegistries) size += registry.size;
    this.set(size);
  },
});

const watchedMarketInputs = new Set<{ stats(): MarketInputsStats }>();
const sumOverCaches = (pick: (stats: MarketInputsStats) => number) =>
  [...watchedMarketInputs].reduce((sum, cache) => sum + pick(cache.stats()), 0);

new Counter({
  name: "stock_ledger_market_inputs_total",
  help: "Analyses' market inputs (indicators, brief, charts) by how they were got: hit (cached), miss (computed and cached), bypassed (computed, not cached: the price-import listener was not live)",
  labelNames: ["result"] as const,
  registers: [workerMetricsRegistry],
  collect() {
    this.reset();
    this.inc(
      { result: "hit" },
      sumOverCaches((s) => s.hits),
    );
    this.inc(
      { result: "miss" },
      sumOverCaches((s) => s.misses),
    );
    this.inc(
      { result: "bypassed" },
      sumOverCaches((s) => s.bypassed),
    );
  },
});

new Gauge({
  name: "stock_ledger_market_inputs_cached_tickers",
  help: "Tickers whose market inputs this process holds",
  registers: [workerMetricsRegistry],
  collect() {
    this.set(sumOverCaches((s) => s.size));
  },
});

const budgetAlerts = new Counter({
  name: "stock_ledger_budget_alerts_total",
  help: "Daily budget thresholds crossed (each is raised once per UTC day, by the worker that saw it first)",
  labelNames: ["kind", "threshold"] as const,
  registers: [workerMetricsRegistry],
});

export function recordBudgetAlert(kind: string, threshold: number): void {
  budgetAlerts.inc({ kind, threshold: String(threshold) });
}

/** Call once per finished attempt (where the call runner records it in the tracker). */
export function recordCallMetrics(record: CallRecord): void {
  operationDuration.observe(
    {
      gen_ai_operation_name: "generate_content",
      gen_ai_provider_name: "gcp.gemini",
      gen_ai_request_model: record.model,
      stage: record.callType,
      // OpenTelemetry sets error.type only on failures; an empty label is an absent one.
      error_type: record.errorType ?? "",
    },
    record.durationMs / 1000,
  );
}

/** What recordAnalysisMetrics reads of a finalized `stock_analyses` row. */
export interface FinishedAnalysis {
  status: string;
  model: string;
  duration_ms: number | null;
}

/** Call once per finalized analysis (after its finalize statement commits). */
export function recordAnalysisMetrics(row: FinishedAnalysis): void {
  analysesFinished.inc({ status: row.status });
  if (row.duration_ms !== null) {
    analysisDuration.observe({ status: row.status, model: row.model }, row.duration_ms / 1000);
  }
}

/** Reports the cache's hits, misses and size until the returned function is called. */
export function watchMarketInputsCache(cache: { stats(): MarketInputsStats }): () => void {
  watchedMarketInputs.add(cache);
  return () => watchedMarketInputs.delete(cache);
}

/** Reports `registry.size` as live trackers until the returned function is called. */
export function watchTrackerRegistry(registry: TrackerRegistry): () => void {
  watchedRegistries.add(registry);
  return () => watchedRegistries.delete(registry);
}
