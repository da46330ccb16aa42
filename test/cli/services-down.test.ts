import { describe, expect, it } from "vitest";
import { logger } from "../../src/logger.js";
import { enqueueAnalyses } from "../../src/queue/enqueue.js";
import { recoverOrphanedAnalyses } from "../../src/queue/recovery.js";
import { freePort, runCli } from "../helpers/cli.js";
import { cliTestEnv } from "../helpers/cli-env.js";
import { openTestQueue, QUEUE_BACKEND, testConfig } from "../helpers/services.js";

const files = cliTestEnv("sl-test-down");

const rowCount = async () =>
  Number((await files.db.sql`SELECT count(*)::int AS n FROM stock_analyses`)[0]?.n);

/** The command ends on its own (not killed by runCli's timeout) with exit 1 and one line. */
async function expectUnreachable(args: string[], extraEnv: Record<string, string>, line: RegExp) {
  const before = await rowCount();
  const result = await runCli(args, { ...files.env, ...extraEnv }, 20_000);
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(line);
  expect(result.stdout).toBe("");
  expect(await rowCount()).toBe(before);
}

describe("a service that does not answer", () => {
  it("closed Redis port: analyze exits 1 with one line naming Redis and its address, writing no row", async () => {
    const port = await freePort();
    for (const args of [
      ["analyze", "TCS"],
      ["analyze", "TCS", "INFY", "--wait", "--json"],
    ]) {
      await expectUnreachable(
        args,
        { QUEUE_BACKEND: "redis", REDIS_URL: `redis://user:secret@127.0.0.1:${port}` },
        new RegExp(`^stock-ledger: Redis at 127\\.0\\.0\\.1:${port} is unreachable: ECONNREFUSED$`),
      );
    }
  });

  it.runIf(QUEUE_BACKEND === "postgres")(
    "QUEUE_BACKEND=postgres: analyze enqueues with Redis' port closed (no command opens a Redis connection)",
    async () => {
      const port = await freePort();
      const result = await runCli(["analyze", "TCS", "--json"], {
        ...files.env,
        REDIS_URL: `redis://127.0.0.1:${port}`,
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe("");
      const { analyses } = JSON.parse(result.stdout);
      expect(analyses).toHaveLength(1);
      const opened = openTestQueue(testConfig(files.env));
      try {
        expect(await opened.queue.getJob(analyses[0].id)).toBeDefined();
      } finally {
        await opened.close();
      }
    },
  );

  it("closed PostgreSQL port: analyze exits 1 with one line naming PostgreSQL and its address", async () => {
    const port = await freePort();
    const result = await runCli(
      ["analyze", "TCS"],
      { ...files.env, DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x` },
      20_000,
    );
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr.trim().split("\n")).toEqual([
      `stock-ledger: PostgreSQL at 127.0.0.1:${port} is unreachable: ECONNREFUSED`,
    ]);
  });
});

describe("a job that cannot be added", () => {
  it("ends its fresh row failed ('not enqueued: …') in the same call, so recovery never runs it", async () => {
    // A queue whose service is gone: add() fails after the row is written. Redis: a connection
    // closed after it was ready; PostgreSQL: a database that does not answer.
    const port = await freePort();
    const gone = openTestQueue(
      testConfig({ ...files.env, DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x` }),
      "producer",
    );
    const queue = gone.queue;
    if (QUEUE_BACKEND === "redis") {
      await queue.waitUntilReady();
      await gone.backend.close();
    }
    await expect(
      enqueueAnalyses(
        { sql: files.db.sql, queue },
        { tickers: ["TCS"], model: "gemini-2.5-flash", id: "lost-job" },
      ),
    ).rejects.toThrow();
    const [row] = await files.db
      .sql`SELECT status, error, total_tokens, completed_at FROM stock_analyses WHERE id = 'lost-job'`;
    expect(row?.status).toBe("failed");
    expect(row?.error).toMatch(/^not enqueued: /);
    expect(Number(row?.total_tokens)).toBe(0);
    expect(row?.completed_at).not.toBeNull();
    await gone.close();

    const opened = openTestQueue(testConfig(files.env));
    const live = opened.queue;
    try {
      const report = await recoverOrphanedAnalyses(
        { sql: files.db.sql, queue: live, logger },
        { minAgeMs: 0 },
      );
      expect(report.requeued).not.toContain("lost-job");
      expect(await live.getJob("lost-job")).toBeUndefined();
    } finally {
      await opened.close();
    }
  });
});
