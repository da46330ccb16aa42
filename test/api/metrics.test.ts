import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { usdToPico } from "../../src/ledger/money.js";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { startMetricsServer } from "../../src/metrics/metrics-server.js";
import {
  recordAnalysisMetrics,
  recordCallMetrics,
  watchTrackerRegistry,
} from "../../src/metrics/worker-metrics.js";
import type { WorkerRuntime } from "../../src/queue/worker-runtime.js";
import { QUEUE_BACKEND } from "../helpers/services.js";
import { type ApiHarness, startApiHarness, startTestWorker, waitUntilEnded } from "./api-harness.js";
import { parsePrometheusText, type Sample, sumOf } from "./prometheus-text.js";

let api: ApiHarness;
let emulator: EmulatorHandle;
let worker: WorkerRuntime;
/** The analyses a real worker ran in beforeAll. */
let ids: string[];

// OpenTelemetry GenAI metrics' explicit bucket boundaries, as the spec lists them.
const SPEC_TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
const SPEC_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
const GEN_AI_CALL = { gen_ai_operation_name: "generate_content", gen_ai_provider_name: "gcp.gemini" };

interface HistogramSeries {
  labels: Record<string, string>;
  buckets: { le: string; value: number }[];
  sum: number;
  count: number;
}

/** A histogram's series, keyed by their full label set (sorted, `le` aside). */
function histogramSeries(samples: Sample[], name: string): Map<string, HistogramSeries> {
  const series = new Map<string, HistogramSeries>();
  for (const sample of samples) {
    const part = [`${name}_bucket`, `${name}_sum`, `${name}_count`].indexOf(sample.name);
    if (part < 0) continue;
    const { le, ...labels } = sample.labels;
    const key = seriesKey(labels);
    const entry = series.get(key) ?? { labels, buckets: [], sum: Number.NaN, count: Number.NaN };
    series.set(key, entry);
    if (part === 0) entry.buckets.push({ le: le as string, value: sample.value });
    else if (part === 1) entry.sum = sample.value;
    else entry.count = sample.value;
  }
  return series;
}

const seriesKey = (labels: Record<string, string>) =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

/** What a histogram with `bounds` holds after observing `values`, in exposition form. */
function expectedHistogram(bounds: number[], values: number[]) {
  return {
    buckets: [
      ...bounds.map((bound) => ({ le: String(bound), value: values.filter((v) => v <= bound).length })),
      { le: "+Inf", value: values.length },
    ],
    sum: values.reduce((a, b) => a + b, 0),
    count: values.length,
  };
}

async function scrape(): Promise<Sample[]> {
  const response = await api.app.inject({ url: "/metrics" });
  expect(response.statusCode).toBe(200);
  expect(response.headers["content-type"]).toContain("text/plain");
  return parsePrometheusText(response.body);
}

beforeAll(async () => {
  // One billed-but-failed attempt per analysis, so failed calls' tokens are in the sums too.
  emulator = await startEmulator({
    latencyMs: 20,
    faults: [{ kind: "bad_schema", callType: "final_decision", attempt: 1 }],
  });
  api = await startApiHarness();
  worker = await startTestWorker(api.config, emulator);
  watchTrackerRegistry(worker.resources.registry);

  const enqueued = await api.app.inject({
    method: "POST",
    url: "/analyses",
    payload: { tickers: ["RELIANCE", "TCS", "INFY"] },
  });
  expect(enqueued.statusCode).toBe(202);
  ids = enqueued.json().analyses.map((a: { id: string }) => a.id);
  await waitUntilEnded(api, ids);
  // BullMQ marks the job completed just after the ledger's finalize commits.
  await vi.waitFor(async () => expect((await api.queue.getJobCounts("active")).active).toBe(0));
});

afterAll(async () => {
  await worker?.close(5_000);
  await api?.close();
  await emulator?.close();
});

describe("/metrics", () => {
  it("token, call and cost counters equal the ledger after analyses run by a real worker", async () => {
    const samples = await scrape();
    const ledger = await api.db.sql<
      {
        model: string;
        stage: string;
        input: number;
        output: number;
        thinking: number;
        cached: number;
        calls: number;
        failed: number;
        cost: string;
      }[]
    >`
      SELECT model, call_type AS stage, sum(input_tokens)::int AS input, sum(output_tokens)::int AS output,
             sum(thinking_tokens)::int AS thinking, sum(cached_input_tokens)::int AS cached,
             count(*)::int AS calls, count(*) FILTER (WHERE status = 'failure')::int AS failed,
             COALESCE(sum(cost_usd), 0)::text AS cost
      FROM llm_calls GROUP BY model, call_type ORDER BY call_type`;
    expect(ledger).toHaveLength(6);
    expect(ledger.find((r) => r.stage === "final_decision")?.failed).toBe(3);

    for (const row of ledger) {
      const where = { gen_ai_request_model: row.model, stage: row.stage };
      expect(sumOf(samples, "stock_ledger_tokens_total", { ...where, gen_ai_token_type: "input" })).toBe(
        row.input,
      );
      expect(sumOf(samples, "stock_ledger_tokens_total", { ...where, gen_ai_token_type: "output" })).toBe(
        row.output,
      );
      expect(sumOf(samples, "stock_ledger_thinking_tokens_total", where)).toBe(row.thinking);
      expect(sumOf(samples, "stock_ledger_cached_input_tokens_total", where)).toBe(row.cached);
      expect(sumOf(samples, "stock_ledger_llm_calls_total", where)).toBe(row.calls);
      expect(sumOf(samples, "stock_ledger_llm_calls_total", { ...where, status: "failure" })).toBe(
        row.failed,
      );
      expect(sumOf(samples, "stock_ledger_cost_usd_total", where)).toBeCloseTo(Number(row.cost), 12);
    }

    // And the grand totals equal the analyses' own totals (the seed's columns).
    const [totals] = await api.db.sql<{ input: number; output: number; total: number; cost: string }[]>`
      SELECT sum(total_input_tokens)::int AS input, sum(total_output_tokens)::int AS output,
             sum(total_tokens)::int AS total, sum(cost_usd)::text AS cost
      FROM stock_analyses WHERE id = ANY(${ids})`;
    const input = sumOf(samples, "stock_ledger_tokens_total", { gen_ai_token_type: "input" });
    const output = sumOf(samples, "stock_ledger_tokens_total", { gen_ai_token_type: "output" });
    expect({ input, output, total: input + output }).toEqual({
      input: totals?.input,
      output: totals?.output,
      total: totals?.total,
    });
    const costPico = usdToPico(String(sumOf(samples, "stock_ledger_cost_usd_total").toFixed(12)));
    expect(Number(costPico - usdToPico(totals?.cost ?? "0"))).toBeLessThan(1_000);

    expect(sumOf(samples, "stock_ledger_analyses", { status: "completed" })).toBe(3);
    expect(sumOf(samples, "stock_ledger_analyses", { status: "running" })).toBe(0);
    for (const state of ["waiting", "active", "delayed", "failed"]) {
      expect(sumOf(samples, "stock_ledger_queue_jobs", { state })).toBe(0);
    }
    expect(sumOf(samples, "stock_ledger_live_trackers")).toBe(0);
    // Each analysis waited for one claim, one finalize and fourteen call rows to commit: six
    // calls' start markers and closing rows, and final_decision's refused first answer's pair.
    const waited = (write: string) =>
      sumOf(samples, "stock_ledger_ledger_write_wait_seconds_count", { write });
    expect([waited("claim"), waited("call"), waited("finalize")]).toEqual([3, 42, 3]);
    expect(sumOf(samples, "stock_ledger_ledger_write_wait_seconds_sum", { write: "call" })).toBeGreaterThan(
      0,
    );
    // Every analysis got its market inputs one way or another (cached once the listener is live).
    const inputs = ["hit", "miss", "bypassed"].map((result) =>
      sumOf(samples, "stock_ledger_market_inputs_total", { result }),
    );
    expect(inputs.reduce((a, b) => a + b, 0)).toBe(3);
    // The worker folds its finalized analyses into the stats rollups within a moment ...
    await expect
      .poll(async () => sumOf(await scrape(), "stock_ledger_stats_pending_analyses"), { timeout: 5000 })
      .toBe(0);
    // ... and while no one can fold (the folders' lock held here), pending ones show.
    const holder = await api.db.sql.reserve();
    try {
      await holder`SELECT pg_advisory_lock(hashtext('stock-ledger.stats_fold_pending'))`;
      await api.db.sql`INSERT INTO stats_rollup_pending (analysis_id) VALUES ('an-metrics-pending')`;
      expect(sumOf(await scrape(), "stock_ledger_stats_pending_analyses")).toBe(1);
      await api.db.sql`DELETE FROM stats_rollup_pending WHERE analysis_id = 'an-metrics-pending'`;
    } finally {
      await holder`SELECT pg_advisory_unlock_all()`;
      holder.release();
    }
    expect(sumOf(samples, "stock_ledger_metrics_source_up", { source: "postgres" })).toBe(1);
    const queueSource = QUEUE_BACKEND === "redis" ? "redis" : "queue";
    expect(sumOf(samples, "stock_ledger_metrics_source_up", { source: queueSource })).toBe(1);
  });

  it("records gen_ai.client.token.usage and operation.duration per call attempt, to the spec", async () => {
    const text = (await api.app.inject({ url: "/metrics" })).body;
    // Each metric family is declared once across the API's and the worker's registries.
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name]) => name);
    expect(families.length).toBe(new Set(families).size);
    expect(text).toMatch(/^# TYPE gen_ai_client_token_usage histogram$/m);
    expect(text).toMatch(/^# TYPE gen_ai_client_operation_duration_seconds histogram$/m);
    const samples = parsePrometheusText(text);

    const calls = await api.db.sql<
      {
        model: string;
        stage: string;
        status: string;
        error_type: string | null;
        usage_source: string;
        input: number;
        output: number;
        duration_ms: number;
      }[]
    >`
      SELECT model, call_type AS stage, status, error_type, usage_source, input_tokens AS input,
             output_tokens AS output, duration_ms
      FROM llm_calls WHERE analysis_id = ANY(${ids})`;
    // Every attempt got a response reporting usage, so the histograms see every ledger token.
    expect(calls.filter((c) => c.usage_source !== "provider")).toEqual([]);
    const failed = calls.filter((c) => c.status !== "success");
    expect(failed.map((c) => [c.stage, c.error_type])).toEqual(
      Array(3).fill(["final_decision", "malformed_output"]),
    );
    expect(failed.every((c) => c.input > 0 && c.output > 0)).toBe(true);

    // Expected series, from the ledger's rows: label set → observed values.
    const tokens = new Map<string, number[]>();
    const durations = new Map<string, number[]>();
    const observe = (into: Map<string, number[]>, labels: Record<string, string>, value: number) => {
      const key = seriesKey(labels);
      into.set(key, [...(into.get(key) ?? []), value]);
    };
    for (const call of calls) {
      const labels = {
        ...GEN_AI_CALL,
        gen_ai_request_model: call.model,
        stock_ledger_stage: call.stage,
        // error.type only on failures: no error_type label at all on success, not an empty one.
        ...(call.status === "success" ? {} : { error_type: call.error_type ?? "_OTHER" }),
      };
      observe(tokens, { ...labels, gen_ai_token_type: "input" }, call.input);
      observe(tokens, { ...labels, gen_ai_token_type: "output" }, call.output);
      observe(durations, labels, call.duration_ms / 1000);
    }
    const models = new Set(calls.map((c) => c.model));
    const scraped = (name: string) =>
      [...histogramSeries(samples, name)].filter(([, s]) => models.has(s.labels.gen_ai_request_model ?? ""));

    // Token usage: exactly the expected series (so exactly the spec's labels), the spec's buckets,
    // each call in its bucket, and _sum the ledger's tokens.
    const tokenSeries = scraped("gen_ai_client_token_usage");
    expect(tokenSeries.map(([key]) => key).sort()).toEqual([...tokens.keys()].sort());
    for (const [key, series] of tokenSeries) {
      const { buckets, sum, count } = series;
      expect({ buckets, sum, count }).toEqual(expectedHistogram(SPEC_TOKEN_BUCKETS, tokens.get(key) ?? []));
    }
    // _sum over the analyses' series equals the analyses' own totals (the seed's columns).
    const summed = (type: string) =>
      tokenSeries
        .filter(([, t]) => t.labels.gen_ai_token_type === type)
        .reduce((sum, [, t]) => sum + t.sum, 0);
    const [totals] = await api.db.sql<{ input: number; output: number }[]>`
      SELECT sum(total_input_tokens)::int AS input, sum(total_output_tokens)::int AS output
      FROM stock_analyses WHERE id = ANY(${ids})`;
    expect({
      input: summed("input"),
      output: summed("output"),
    }).toEqual(totals);
    // Billed failures keep their tokens, under their error type.
    const failedWhere = { stock_ledger_stage: "final_decision", error_type: "malformed_output" };
    expect(sumOf(samples, "gen_ai_client_token_usage_count", failedWhere)).toBe(6);
    expect(sumOf(samples, "gen_ai_client_token_usage_sum", failedWhere)).toBe(
      failed.reduce((sum, c) => sum + c.input + c.output, 0),
    );

    // Operation duration: the same attributes, one observation per attempt, the spec's buckets.
    const durationSeries = scraped("gen_ai_client_operation_duration_seconds");
    expect(durationSeries.map(([key]) => key).sort()).toEqual([...durations.keys()].sort());
    for (const [key, series] of durationSeries) {
      const expected = expectedHistogram(SPEC_DURATION_BUCKETS, durations.get(key) ?? []);
      expect(series.buckets).toEqual(expected.buckets);
      expect(series.count).toBe(expected.count);
      expect(series.sum).toBeCloseTo(expected.sum, 6);
    }
    expect(sumOf(samples, "gen_ai_client_operation_duration_seconds_count", failedWhere)).toBe(3);
  });

  it("shows what the worker's recorders observe, in OpenTelemetry GenAI names", async () => {
    const startedAt = new Date();
    const base = {
      attempt: 1,
      model: "gemini-test-metrics",
      usage: {
        inputTokens: 100,
        outputTokens: 20,
        thinkingTokens: 5,
        cachedInputTokens: 0,
        totalTokens: 120,
        usageSource: "provider" as const,
        modalityTokens: { input: {}, output: {} },
        totalMismatch: false,
      },
      cost: { costPico: 1n, priceVersion: null, priceTier: null },
      startedAt,
      inputChars: 400,
      outputChars: 80,
      rawUsage: null,
      inputHash: null,
    };
    recordCallMetrics({
      ...base,
      callType: "volume_analysis",
      status: "success",
      errorType: null,
      errorMessage: null,
      durationMs: 150,
    });
    recordCallMetrics({
      ...base,
      callType: "volume_analysis",
      attempt: 2,
      status: "failure",
      errorType: "rate_limited",
      errorMessage: "429",
      durationMs: 30,
    });
    recordAnalysisMetrics({ status: "completed", model: "gemini-test-metrics", duration_ms: 4200 });

    const samples = await scrape();
    const where = { gen_ai_request_model: "gemini-test-metrics", stock_ledger_stage: "volume_analysis" };
    expect(sumOf(samples, "gen_ai_client_operation_duration_seconds_count", where)).toBe(2);
    expect(sumOf(samples, "gen_ai_client_operation_duration_seconds_sum", where)).toBeCloseTo(0.18, 6);
    expect(
      sumOf(samples, "gen_ai_client_operation_duration_seconds_count", {
        ...where,
        error_type: "rate_limited",
      }),
    ).toBe(1);
    const bucket = samples.find(
      (s) =>
        s.name === "gen_ai_client_operation_duration_seconds_bucket" &&
        s.labels.gen_ai_request_model === "gemini-test-metrics" &&
        s.labels.le === "0.16" &&
        !("error_type" in s.labels),
    );
    expect(bucket).toMatchObject({ value: 1, labels: GEN_AI_CALL });
    // Each attempt's reported tokens, once per token type; the failed one under its error type.
    for (const [type, tokens] of [
      ["input", 100],
      ["output", 20],
    ] as const) {
      const typed = { ...where, gen_ai_token_type: type };
      expect(sumOf(samples, "gen_ai_client_token_usage_count", typed)).toBe(2);
      expect(sumOf(samples, "gen_ai_client_token_usage_sum", typed)).toBe(2 * tokens);
      expect(sumOf(samples, "gen_ai_client_token_usage_sum", { ...typed, error_type: "rate_limited" })).toBe(
        tokens,
      );
    }
    expect(
      sumOf(samples, "stock_ledger_analysis_duration_seconds_sum", { model: "gemini-test-metrics" }),
    ).toBeCloseTo(4.2, 6);
    expect(
      sumOf(samples, "stock_ledger_analyses_finished_total", { status: "completed" }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("serves the worker's own metrics on a port for a worker process without the API", async () => {
    const server = await startMetricsServer({ port: 0 });
    try {
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      const text = await response.text();
      const samples = parsePrometheusText(text);
      expect(sumOf(samples, "stock_ledger_live_trackers")).toBe(0);
      expect(samples.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
      // The GenAI histograms are the worker's; the ledger's counters are the API's alone.
      expect(text).toMatch(/^# TYPE gen_ai_client_token_usage histogram$/m);
      expect(samples.some((s) => s.name.startsWith("stock_ledger_tokens"))).toBe(false);
      expect((await fetch(server.url.replace("/metrics", "/other"))).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
