import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBaselineQueue, enqueueBaselineJobs } from "../../bench/lib/enqueue.js";
import { type BenchProcess, startBaselineProcess } from "../../bench/lib/processes.js";
import { REFERENCE_LEDGERS } from "../../bench/lib/reference-ledger.js";
import { waitForEnded } from "../../bench/lib/wait.js";
import { CALL_TYPES } from "../../src/ledger/call-record.js";
import { type EmulatorHandle, startEmulator } from "../../src/llm/emulator/index.js";
import { createRedis } from "../../src/queue/redis.js";
import { expectTotalsMatchCalls } from "../helpers/ledger-assertions.js";
import {
  createTestDatabase,
  dropQueueKeys,
  REDIS_URL,
  type TestDatabase,
  uniqueName,
} from "../helpers/services.js";

/**
 * The item-1 reference designs are only worth comparing against if they write what they claim:
 * the real baseline worker process, with each design, must leave six committed success rows per
 * analysis and the analysis' totals equal to their sums, as the product's ledger does.
 */
describe("bench reference ledgers (baseline worker + BASELINE_LEDGER)", () => {
  let emulator: EmulatorHandle;
  let db: TestDatabase;

  beforeAll(async () => {
    emulator = await startEmulator({});
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    await emulator.close();
  });

  for (const design of REFERENCE_LEDGERS) {
    it(`${design}: one row per call and totals equal to their sums`, async () => {
      const prefix = uniqueName("slref");
      const connection = createRedis(REDIS_URL, "worker");
      const queue = createBaselineQueue(connection, prefix);
      let worker: BenchProcess | undefined;
      try {
        await queue.pause();
        worker = await startBaselineProcess({
          queuePrefix: prefix,
          emulatorUrl: emulator.url,
          concurrency: 4,
          inputs: "cached",
          charts: false,
          ledger: { design, databaseUrl: db.url },
        });
        const before = await db.sql<{ id: string }[]>`SELECT id FROM stock_analyses`;
        await enqueueBaselineJobs(queue, 6, db.sql);
        await queue.resume();
        await waitForEnded(queue, 6, { timeoutMs: 60_000 });
        expect(await queue.getJobCounts("failed")).toEqual({ failed: 0 });

        const ids = (await db.sql<{ id: string }[]>`SELECT id FROM stock_analyses WHERE status = 'completed'`)
          .map((r) => r.id)
          .filter((id) => !before.some((b) => b.id === id));
        expect(ids).toHaveLength(6);
        for (const id of ids) {
          const sums = await expectTotalsMatchCalls(db.sql, id);
          expect(sums.calls).toBe(CALL_TYPES.length);
          expect(sums.total).toBeGreaterThan(0);
          const rows = await db.sql<{ call_type: string; status: string; output: string | null }[]>`
            SELECT call_type, status, output FROM llm_calls WHERE analysis_id = ${id} ORDER BY call_type`;
          expect(rows.map((r) => r.call_type)).toEqual([...CALL_TYPES].sort());
          expect(rows.every((r) => r.status === "success" && r.output)).toBe(true);
        }
      } finally {
        await worker?.stop("SIGTERM");
        await queue.close();
        connection.disconnect();
        await dropQueueKeys(prefix);
      }
    });
  }
});
