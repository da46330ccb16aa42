import type { ExecuteDeps } from "../../src/analysis/execute-analysis.js";
import { TrackerRegistry } from "../../src/ledger/tracker-registry.js";
import { type EmulatorHandle, type EmulatorOptions, startEmulator } from "../../src/llm/emulator/index.js";
import { GeminiClient } from "../../src/llm/gemini-client.js";
import { logger } from "../../src/logger.js";
import { defaultPriceProvider } from "../../src/market/index.js";
import { AnalysisWriter } from "../../src/store/analysis-writer.js";
import { CallWriter } from "../../src/store/call-writer.js";
import { RollupFolder } from "../../src/store/rollup-folder.js";
import { createTestDatabase, insertTestAnalysis, type TestDatabase } from "./services.js";

export interface PipelineHarness {
  db: TestDatabase;
  emulator: EmulatorHandle;
  deps: ExecuteDeps;
  /** Inserts a queued analysis row and returns its id. */
  queue(ticker: string, model?: string): Promise<string>;
  close(): Promise<void>;
}

/** Real Postgres, the real emulator over HTTP, the real SDK; fast retry delays. */
export async function createPipelineHarness(
  options: { emulator?: EmulatorOptions; timeoutMs?: number; maxAttempts?: number; charts?: boolean } = {},
): Promise<PipelineHarness> {
  const db = await createTestDatabase();
  const emulator = await startEmulator(options.emulator ?? {});
  const deps: ExecuteDeps = {
    sql: db.sql,
    callWriter: new CallWriter(db.sql, logger),
    analysisWriter: new AnalysisWriter(db.sql, logger),
    rollupFolder: new RollupFolder(db.sql, logger),
    llm: new GeminiClient({
      apiKey: "test",
      baseUrl: `${emulator.url}/`,
      timeoutMs: options.timeoutMs ?? 5000,
    }),
    prices: defaultPriceProvider(),
    charts: options.charts ?? false,
    registry: new TrackerRegistry(),
    leaseMs: 30_000,
    reuseTtlSeconds: 3600,
    batchSettings: { collectMs: 50, pollMinMs: 20, pollMaxMs: 200 },
    createTimeoutMs: 5000,
    retryPolicy: {
      maxAttempts: options.maxAttempts ?? 3,
      baseDelayMs: 5,
      maxDelayMs: 50,
      rateLimitDelayMs: 5,
    },
    logger,
  };
  return {
    db,
    emulator,
    deps,
    async queue(ticker, model = "gemini-2.5-flash") {
      return insertTestAnalysis(db.sql, { stem: "an", ticker, model });
    },
    async close() {
      await deps.rollupFolder.close();
      await emulator.close();
      await db.drop();
    },
  };
}
