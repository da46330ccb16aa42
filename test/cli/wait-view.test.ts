import { describe, expect, it } from "vitest";
import { MAX_WIDTH, renderFrame } from "../../src/cli/progress-view-frame.js";
import type { CallFact } from "../../src/cli/progress-view-ledger.js";
import { ProgressLines } from "../../src/cli/progress-view-lines.js";
import { type AnalysisFacts, analysisView } from "../../src/cli/progress-view-state.js";
import { LiveBlock } from "../../src/cli/progress-view-tty.js";
import { CALL_TYPES } from "../../src/ledger/call-record.js";
import { formatUsd, usdToPico } from "../../src/ledger/money.js";
import { runCli, startCli } from "../helpers/cli.js";
import { cliTestEnv } from "../helpers/cli-env.js";

const files = cliTestEnv("sl-test-wait-view");
const STAGES = CALL_TYPES as readonly string[];

describe("analyze --wait off a terminal", () => {
  it("prints one line per stage change, the retry, final_decision, and ends at 6/6", async () => {
    // Stages take 300 ms, and each analysis' first indicator_summary call is refused with a 429.
    const worker = await startCli(
      ["worker", "--concurrency", "4"],
      { ...files.env, EMULATOR_LATENCY_MS: "300", EMULATOR_FAULTS: "rate_limited@indicator_summary#1" },
      /worker ready/,
    );
    let result: Awaited<ReturnType<typeof runCli>>;
    try {
      result = await runCli(["analyze", "RELIANCE", "TCS", "--wait"], files.env);
    } finally {
      await worker.stop();
    }
    expect(result.code, result.stderr).toBe(0);
    // No redraws: not one escape sequence anywhere.
    expect(result.stdout.includes("\u001b[")).toBe(false);
    expect(result.stderr.includes("\u001b[")).toBe(false);
    const lines = result.stderr.split("\n").filter((line) => /^(RELIANCE|TCS) an_\S+: /.test(line));
    expect(new Set(lines).size, lines.join("\n")).toBe(lines.length);

    for (const ticker of ["RELIANCE", "TCS"]) {
      const own = lines.filter((line) => line.startsWith(`${ticker} `));
      const id = /^\S+ (an_\S+):/.exec(own[0] ?? "")?.[1] ?? "";
      const prefix = `${ticker} ${id}:`;
      expect(own.every((line) => line.startsWith(prefix))).toBe(true);

      const calls = await files.db.sql<{ call_type: string; tokens: number; cost: string }[]>`
        SELECT call_type, sum(total_tokens)::int AS tokens, sum(cost_usd)::text AS cost
        FROM llm_calls WHERE analysis_id = ${id} GROUP BY call_type`;
      for (const stage of STAGES) {
        const success = own.filter((line) => line.startsWith(`${prefix} ${stage} success `));
        expect(success, `${stage} success lines:\n${own.join("\n")}`).toHaveLength(1);
        // The figures are the ledger's: every attempt of the stage, failed ones included.
        const ledger = calls.find((c) => c.call_type === stage);
        const [, tokens, cost] =
          /success ([\d,]+) tokens \$(\d+\.\d{6}) \[[1-6]\/6\]$/.exec(success[0] ?? "") ?? [];
        expect(Number(tokens?.replaceAll(",", ""))).toBe(ledger?.tokens);
        expect(`$${cost}`).toBe(formatUsd(usdToPico(ledger?.cost ?? "")));
      }
      const retry = new RegExp(
        `^${prefix} indicator_summary retrying \\(attempt 2\\) after rate_limited \\[\\d/6\\]$`,
      );
      expect(
        own.filter((line) => retry.test(line)),
        own.join("\n"),
      ).toHaveLength(1);
      // The retry comes before the success it led to.
      const retryAt = own.findIndex((line) => line.includes("indicator_summary retrying"));
      const successAt = own.findIndex((line) => line.includes("indicator_summary success"));
      expect(retryAt).toBeLessThan(successAt);

      const counts = own.map((line) => Number(/\[(\d)\/6\]/.exec(line)?.[1]));
      expect(counts).toEqual([...counts].sort((a, b) => a - b)); // the count never goes back
      const [row] = await files.db.sql<{ total_tokens: number }[]>`
        SELECT total_tokens FROM stock_analyses WHERE id = ${id}`;
      expect(own.at(-1)).toMatch(
        new RegExp(
          `^${prefix} completed ${(row?.total_tokens ?? 0).toLocaleString("en-US")} tokens \\$\\d+\\.\\d{6} \\[6/6\\]$`,
        ),
      );
    }
    expect(lines.at(-1)).toMatch(/\[6\/6\]$/);
  });
});

/** Calls as the ledger would hold them for one analysis. */
const call = (
  callType: string,
  attempt: number,
  status: CallFact["status"],
  fields: Partial<CallFact> = {},
) => ({
  callType,
  attempt,
  status,
  errorType: status === "failure" ? "rate_limited" : null,
  totalTokens: status === "success" ? 1_000 + attempt : 0,
  costUsd: status === "success" ? "0.000321" : status === "failure" ? "0" : null,
  ...fields,
});

const facts = (overrides: Partial<AnalysisFacts>): AnalysisFacts => ({
  id: "an_mxccahp9c5ac25e7f975",
  ticker: "RELIANCE",
  row: { status: "running", total_tokens: 0, cost_usd: "0", token_usage_breakdown: {}, error: null },
  reported: undefined,
  calls: [],
  jobFailure: null,
  maxAttempts: 4,
  ...overrides,
});

describe("the live block", () => {
  it("shows each stage's state, retries with their attempt, and the figures as calls land", () => {
    const view = analysisView(
      facts({
        reported: { continuation_levels: "running", reversal_patterns: "reused" },
        calls: [
          call("indicator_summary", 1, "failure"),
          call("indicator_summary", 2, "interrupted"),
          call("comprehensive_overview", 1, "success"),
          call("volume_analysis", 1, "failure"),
        ],
      }),
    );
    const frame = renderFrame([view]);
    expect(frame).toEqual([
      "RELIANCE  an_mxccahp9c5ac25e7f975  running  2/6  1,001 tokens  $0.000321",
      "  indicator_summary       retrying (attempt 2) after rate_limited           0 tokens  $0.000000",
      "  comprehensive_overview  success                                       1,001 tokens  $0.000321",
      "  volume_analysis         retrying (attempt 2) after rate_limited           0 tokens  $0.000000",
      "  reversal_patterns       reused",
      "  continuation_levels     running",
      "  final_decision          pending",
    ]);
  });

  it("ends at 6/6 with final_decision and the row's totals, within 100 columns", () => {
    const longId = `an_${"x".repeat(61)}`;
    const view = analysisView(
      facts({
        id: longId,
        ticker: "BAJAJ-AUTO.NSE-LONG1",
        row: {
          status: "completed",
          total_tokens: 6_021,
          cost_usd: "0.001926",
          token_usage_breakdown: {},
          error: null,
        },
        calls: [
          call("indicator_summary", 1, "failure"),
          ...STAGES.map((s) => call(s, s === "indicator_summary" ? 2 : 1, "success")),
        ],
      }),
    );
    const frame = renderFrame([view], { columns: 160 });
    expect(frame).toHaveLength(7);
    expect(frame[0]).toMatch(
      /^BAJAJ-AUTO\.NSE-LONG1 {2}an_x+…x+ {2}completed {2}6\/6 {2}6,021 tokens {2}\$0\.001926$/,
    );
    expect(frame.slice(1).map((line) => line.split(/\s{2,}/)[2])).toEqual(Array(6).fill("success"));
    expect(frame[6]).toMatch(/^ {2}final_decision +success +1,001 tokens {2}\$0\.000321$/);
    for (const line of frame) expect([...line].length).toBeLessThanOrEqual(MAX_WIDTH);
    expect(Math.max(...renderFrame([view], { columns: 60 }).map((l) => [...l].length))).toBeLessThanOrEqual(
      60,
    );
  });

  it("says how a stage and the analysis ended when they did not succeed", () => {
    const view = analysisView(
      facts({
        row: {
          status: "partial",
          total_tokens: 5_005,
          cost_usd: "0.0016",
          token_usage_breakdown: {},
          error: "stages failed: volume_analysis",
        },
        calls: [
          ...STAGES.filter((s) => s !== "volume_analysis").map((s) => call(s, 1, "success")),
          call("volume_analysis", 1, "failure", { errorType: "invalid_request" }),
        ],
      }),
    );
    const frame = renderFrame([view]);
    // A failed stage has ended too: 6/6, and the status says how.
    expect(frame[0]).toContain("partial  6/6");
    expect(frame[3]).toMatch(/^ {2}volume_analysis +failed \(attempt 1: invalid_request\) +0 tokens/);
    expect(frame.at(-1)).toBe("  ! stages failed: volume_analysis");
  });

  it("falls back to a line per analysis when the blocks are taller than the screen", () => {
    const views = ["TCS", "INFY", "RELIANCE"].map((ticker, i) =>
      analysisView(facts({ ticker, id: `an_${i}` })),
    );
    expect(renderFrame(views, { rows: 40 })).toHaveLength(21);
    expect(renderFrame(views, { rows: 10 })).toEqual([
      "TCS  an_0  ······  running  0/6  0 tokens  $0.000000",
      "INFY  an_1  ······  running  0/6  0 tokens  $0.000000",
      "RELIANCE  an_2  ······  running  0/6  0 tokens  $0.000000",
    ]);
    expect(renderFrame(views, { rows: 3 })).toEqual([
      "TCS  an_0  ······  running  0/6  0 tokens  $0.000000",
      "… and 2 more",
    ]);
  });

  it("redraws in place: up over the last frame, each line cleared, nothing twice", () => {
    const written: string[] = [];
    const block = new LiveBlock({ write: (text: string) => written.push(text) });
    block.draw(["a", "b"]);
    block.draw(["a", "b"]);
    block.draw(["c"]);
    expect(written).toEqual(["\u001b[2Ka\n\u001b[2Kb\n\u001b[J", "\r\u001b[2A\u001b[2Kc\n\u001b[J"]);
  });
});

describe("the stage states", () => {
  it("calls a stage refused by its cap before any call skipped, not failed", () => {
    const view = analysisView(facts({ reported: { volume_analysis: "failed", final_decision: "failed" } }));
    expect(view.stages.map((s) => s.kind).slice(2)).toEqual(["skipped", "pending", "pending", "skipped"]);
  });

  it("does not promise a retry after a stage's last attempt or an error that is not retried", () => {
    const kinds = (calls: ReturnType<typeof call>[]) => analysisView(facts({ calls })).stages[0]?.kind;
    expect(kinds([call("indicator_summary", 4, "failure")])).toBe("failed");
    expect(kinds([call("indicator_summary", 1, "failure", { errorType: "auth" })])).toBe("failed");
    expect(kinds([call("indicator_summary", 3, "failure")])).toBe("retrying");
  });
});

describe("the line log", () => {
  it("gives a retry seen only in the ledger its line, before the success it led to", () => {
    const log = new ProgressLines();
    const running = analysisView(facts({ reported: { indicator_summary: "running" } }));
    expect(log.lines(running)).toEqual(["RELIANCE an_mxccahp9c5ac25e7f975: indicator_summary running [0/6]"]);
    expect(log.lines(running)).toEqual([]);
    const later = analysisView(
      facts({ calls: [call("indicator_summary", 1, "failure"), call("indicator_summary", 2, "success")] }),
    );
    expect(log.lines(later)).toEqual([
      "RELIANCE an_mxccahp9c5ac25e7f975: indicator_summary retrying (attempt 2) after rate_limited [0/6]",
      "RELIANCE an_mxccahp9c5ac25e7f975: indicator_summary success 1,002 tokens $0.000321 [1/6]",
    ]);
  });
});

describe("batch mode in the wait view", () => {
  it("says a stage waits for its batch, then which batch and its state, one line per change", () => {
    const log = new ProgressLines();
    const prefix = "RELIANCE an_mxccahp9c5ac25e7f975:";
    const batched = (batchName: string | null, state: string | null) =>
      analysisView(facts({ batched: [{ callType: "volume_analysis", attempt: 1, batchName, state }] }));
    expect(log.lines(batched(null, null))).toEqual([`${prefix} volume_analysis waiting for a batch [0/6]`]);
    expect(log.lines(batched("batches/abc", "pending"))).toEqual([
      `${prefix} volume_analysis in batch (batches/abc, pending) [0/6]`,
    ]);
    expect(log.lines(batched("batches/abc", "pending"))).toEqual([]);
    expect(log.lines(batched("batches/abc", "running"))).toEqual([
      `${prefix} volume_analysis in batch (batches/abc, running) [0/6]`,
    ]);
    // Its answer is in: the ledger's row wins over the request that is no longer out.
    const answered = analysisView(
      facts({
        calls: [call("volume_analysis", 1, "success")],
        batched: [{ callType: "final_decision", attempt: 1, batchName: null, state: null }],
      }),
    );
    expect(answered.stages.map((s) => s.kind).slice(2)).toEqual(["success", "pending", "pending", "batched"]);
    expect(
      renderFrame([answered], { columns: 100, rows: 40 }).some((line) =>
        line.includes("waiting for a batch"),
      ),
    ).toBe(true);
  });
});
