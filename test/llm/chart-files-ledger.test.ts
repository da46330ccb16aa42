import { GoogleAIFileManager } from "@google/generative-ai/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeAnalysis } from "../../src/analysis/execute-analysis.js";
import { listCalls } from "../../src/store/calls-repo.js";
import { billedByServer, expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";

/** Charts sent as uploaded files, through the whole pipeline into the ledger (real Postgres). */

let h: PipelineHarness;

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
});
afterAll(() => h.close());

const CHART_STAGES = 4;

describe("charts through the Files API", () => {
  it("uploads the four charts once for two analyses of a ticker", async () => {
    for (const ticker of ["TCS", "TCS"]) {
      const id = await h.queue(ticker);
      expect((await executeAnalysis(id, h.deps))?.status).toBe("completed");
      await expectTotalsMatchCalls(h.db.sql, id);
    }
    expect(h.emulator.traffic().filesUploaded).toBe(CHART_STAGES);
  });

  it("records one call, counted once, when a file is gone and the call is resent inline", async () => {
    const first = await h.queue("INFY");
    expect((await executeAnalysis(first, h.deps))?.status).toBe("completed");
    const files = new GoogleAIFileManager("test", { baseUrl: h.emulator.url });
    for (const file of h.emulator.files()) await files.deleteFile(file.name);
    const uploadsBefore = h.emulator.traffic().filesUploaded;

    const second = await h.queue("INFY");
    expect((await executeAnalysis(second, h.deps))?.status).toBe("completed");
    const served = h.emulator
      .requestLog()
      .filter((entry) => entry.analysisId === second && entry.method === "generateContent");
    // Four refused references (403), each followed by its inline resend, plus the six answers.
    expect(served.filter((entry) => entry.status === 403)).toHaveLength(CHART_STAGES);
    expect(served.filter((entry) => entry.status === 200)).toHaveLength(6);

    const calls = await listCalls(h.db.sql, second);
    expect(calls).toHaveLength(6);
    for (const call of calls) {
      expect(call).toMatchObject({ attempt: 1, status: "success" });
      const answered = served.find((entry) => entry.status === 200 && entry.callType === call.call_type);
      const usage = answered?.usageMetadata as { promptTokenCount: number; totalTokenCount: number };
      expect(call.input_tokens).toBe(usage.promptTokenCount);
      expect(call.total_tokens).toBe(usage.totalTokenCount);
    }
    const totals = await expectTotalsMatchCalls(h.db.sql, second);
    const billed = billedByServer(h.emulator.requestLog(), second);
    expect({ input: totals.input, output: totals.output, total: totals.total }).toEqual({
      input: billed.input,
      output: billed.output,
      total: billed.total,
    });
    // The resends dropped the dead files; the next analysis uploads the charts again.
    expect(h.emulator.traffic().filesUploaded).toBe(uploadsBefore);
    const third = await h.queue("INFY");
    expect((await executeAnalysis(third, h.deps))?.status).toBe("completed");
    expect(h.emulator.traffic().filesUploaded).toBe(uploadsBefore + CHART_STAGES);
  });
});
