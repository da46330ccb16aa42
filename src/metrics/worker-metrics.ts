import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { MarketInputsStats } from "../analysis/market-inputs.js";
import type { CallRecord } from "../ledger/call-record.js";
import type { TrackerRegistry } from "../ledger/tracker-registry.js";

/**
 * Metrics only the process running analyses can know: each LLM call's duration and tokens as
 * it ends, how long analyses took, how many trackers are live. The durable token and cost
 * counters are not here: the API derives them from the ledger in Postgres
 * (`stock_ledger_tokens_total`, …), so they hold wherever the worker runs and across restarts.
 * `gen_ai_*` metrics follow OpenTelemetry's GenAI semantic conventions in Prometheus form (dots
 * become underscores, unit `s` a `_seconds` suffix, `{token}` none); every other metric is this
 * service's own, so it is named `stock_ledger_*`.
 */
export const workerMetricsRegistry = new Registry();

/**
 * Attributes every gen_ai_* series carries. `error_type` (error.type: an LlmErrorType, or
 * `_OTHER`) is set on failed attempts only: on success the label is absent, not empty, as the
 * spec leaves the attribute unset. `stock_ledger_stage` (the call type) is ours, and named so.
 */
const GEN_AI_LABELS = [
  "gen_ai_operation_name",
  "gen_ai_provider_name",
  "gen_ai_request_model",
  "error_type",
  "stock_ledger_stage",
] as const;

// Calls go through Gemini's generateContent (the AI Studio protocol, whatever GEMINI_BASE_URL
// points at): the spec's `generate_content` operation of provider `gcp.gemini`.
const GEN_AI_CALL = { gen_ai_operation_name: "generate_content", gen_ai_provider_name: "gcp.gemini" };

// The spec's explicit bucket boundaries for gen_ai.client.operation.duration (seconds) ...
const OPERATION_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
// ... and for gen_ai.client.token.usage (tokens).
const TOKEN_USAGE_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

const operationDuration = new Histogram({
  name: "gen_ai_client_operation_duration_seconds",
  help: "GenAI operation duration: each LLM call attempt, failed attempts included (error_type set)",
  labelNames: GEN_AI_LABELS,
  buckets: OPERATION_DURATION_BUCKETS,
  registers: [workerMetricsRegistry],
});

const tokenUsage = new Histogram({
  name: "gen_ai_client_token_usage",
  help: "Number of input and output tokens used: one observation per token type per LLM call attempt whose response reported usage (billed failures included, error_type set; local estimates are not counted)",
  labelNames: [...GEN_AI_LABELS, "gen_ai_token_type"] as const,
  buckets: TOKEN_USAGE_BUCKETS,
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

const batchesRecorded = new Counter({
  name: "stock_ledger_batches_total",
  help: "Batches (Gemini Batch API) whose responses were recorded, by how the batch ended",
  labelNames: ["state"] as const,
  registers: [workerMetricsRegistry],
});

const batchRequestsRecorded = new Counter({
  name: "stock_ledger_batch_requests_total",
  help: "Batch requests recorded as call rows, by status (success, failure) and error type (failures only)",
  labelNames: ["status", "error_type"] as const,
  registers: [workerMetricsRegistry],
});

/** One finished batch, once its responses are in the ledger (a batch's calls skip the gen_ai_* histograms: their duration is the batch's). */
export function recordBatchMetrics(
  state: string,
  calls: readonly { status: string; error_type: string | null }[],
): void {
  batchesRecorded.inc({ state });
  for (const call of calls) {
    batchRequestsRecorded.inc(
      call.status === "success"
        ? { status: call.status }
        : { status: call.status, error_type: call.error_type ?? "_OTHER" },
    );
  }
}

export function recordBudgetAlert(kind: string, threshold: number): void {
  budgetAlerts.inc({ kind, threshold: String(threshold) });
}

/** Call once per finished attempt (where the call runner records it in the tracker). */
export function recordCallMetrics(record: CallRecord): void {
  const labels: Partial<Record<(typeof GEN_AI_LABELS)[number], string>> = {
    ...GEN_AI_CALL,
    gen_ai_request_model: record.model,
    stock_ledger_stage: record.callType,
  };
  if (record.status !== "success") labels.error_type = record.errorType ?? "_OTHER";
  operationDuration.observe(labels, record.durationMs / 1000);
  // Only the provider's figures: the spec forbids reporting counts the instrumentation cannot
  // obtain (our local estimates), and an attempt with no response reported none.
  if (record.usage.usageSource !== "provider") return;
  tokenUsage.observe({ ...labels, gen_ai_token_type: "input" }, record.usage.inputTokens);
  // Output includes thinking tokens (DESIGN §3): both are billed as output.
  tokenUsage.observe({ ...labels, gen_ai_token_type: "output" }, record.usage.outputTokens);
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
