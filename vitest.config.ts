import { defineConfig } from "vitest/config";

const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: "forks" as const,
};

/**
 * Two projects, one set of tests: everything on the Redis queue (the default), and the suites
 * that touch the queue again on BullMQ's PostgreSQL backend (test/helpers/services.ts reads
 * QUEUE_BACKEND). `npm test` runs both; `vitest run --project redis` one.
 */
export default defineConfig({
  test: {
    // The tests mostly wait on servers, not the CPU: three files at a time on two cores.
    maxWorkers: 3,
    projects: [
      {
        test: {
          ...shared,
          name: "redis",
          include: ["test/**/*.test.ts"],
          env: { LOG_LEVEL: "silent", QUEUE_BACKEND: "redis" },
        },
      },
      {
        test: {
          ...shared,
          name: "postgres",
          include: [
            "test/queue/**/*.test.ts",
            "test/analysis/pipeline.test.ts",
            "test/analysis/budgets.test.ts",
            "test/analysis/spend-caps.test.ts",
            "test/analysis/batch-mode.test.ts",
            "test/api/**/*.test.ts",
            "test/cli/end-to-end.test.ts",
            "test/cli/services-down.test.ts",
            "test/cli/bad-input.test.ts",
            "test/cli/caps.test.ts",
            "test/cli/price-book.test.ts",
            "test/llm/rate-limiter-send-stamp.test.ts",
            "test/reliability/**/*.test.ts",
          ],
          // These pin QUEUE_BACKEND=redis (a Redis Cluster, Redis over TLS): once is enough.
          exclude: ["test/reliability/redis-cluster.test.ts", "test/reliability/redis-tls.test.ts"],
          env: { LOG_LEVEL: "silent", QUEUE_BACKEND: "postgres" },
        },
      },
      {
        test: {
          ...shared,
          name: "pgbouncer",
          // The ledger through PgBouncer in transaction pooling (no prepared statements, no LISTEN).
          include: [
            "test/store/pooling.test.ts",
            "test/analysis/pipeline.test.ts",
            "test/analysis/batch-mode.test.ts",
            "test/cli/end-to-end.test.ts",
            "test/queue/**/*.test.ts",
          ],
          globalSetup: ["test/helpers/pgbouncer-setup.ts"],
          env: { LOG_LEVEL: "silent", QUEUE_BACKEND: "redis", DATABASE_POOLING: "transaction" },
        },
      },
    ],
  },
});
