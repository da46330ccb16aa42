import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, runCli, startCli } from "../helpers/cli.js";
import { type RedisClusterHandle, startRedisCluster } from "../helpers/redis-cluster.js";
import { createTestDatabase, type TestDatabase, uniqueName } from "../helpers/services.js";
import { makeTlsFiles, redisTlsArgs, type TlsFiles } from "../helpers/tls-certs.js";

/**
 * The queue over TLS, as managed Redis offers it: `rediss://` to one server and
 * `rediss+cluster://` to a cluster whose nodes speak only TLS. The CLI trusts the test's own
 * CA through NODE_EXTRA_CA_CERTS, as a user with a private CA would.
 */
let tls: TlsFiles;
let db: TestDatabase;
let single: ChildProcess;
let singlePort: number;
let cluster: RedisClusterHandle;

beforeAll(async () => {
  tls = makeTlsFiles();
  db = await createTestDatabase();
  singlePort = await freePort();
  single = spawn("redis-server", [...redisTlsArgs(tls, singlePort), "--bind", "127.0.0.1", "--save", ""], {
    stdio: "ignore",
  });
  cluster = await startRedisCluster({ tls });
  await sleep(200);
}, 60_000);

afterAll(async () => {
  single?.kill("SIGKILL");
  await cluster?.stop();
  await db?.drop();
  rmSync(tls.dir, { recursive: true, force: true });
});

async function analyzeThrough(redisUrl: string, prefix: string) {
  const env = {
    DATABASE_URL: db.url,
    QUEUE_BACKEND: "redis",
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    NODE_EXTRA_CA_CERTS: tls.ca,
  };
  const worker = await startCli(["worker"], env, /worker ready/);
  try {
    const id = uniqueName("tls").replaceAll("_", "-");
    const result = await runCli(["analyze", "TCS", "--id", id, "--wait", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const [row] = await db.sql`SELECT status, llm_calls_count FROM stock_analyses WHERE id = ${id}`;
    expect(row).toMatchObject({ status: "completed", llm_calls_count: 6 });
  } finally {
    await worker.stop("SIGTERM");
  }
}

describe("Redis over TLS", () => {
  it("rediss:// to one server: a worker and analyze --wait run an analysis to the end", async () => {
    await analyzeThrough(`rediss://127.0.0.1:${singlePort}`, uniqueName("sl-tls"));
  });

  it("rediss+cluster:// to a cluster that speaks only TLS", async () => {
    expect(cluster.url.startsWith("rediss+cluster://")).toBe(true);
    await analyzeThrough(cluster.url, `{${uniqueName("sl-tlscl")}}`);
  });

  it("an untrusted certificate is one line naming Redis, not a hang", async () => {
    const result = await runCli(["analyze", "TCS"], {
      DATABASE_URL: db.url,
      REDIS_URL: `rediss://127.0.0.1:${singlePort}`,
      QUEUE_PREFIX: uniqueName("sl-tls-untrusted"),
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^stock-ledger: Redis at 127\\.0\\.0\\.1:${singlePort} is unreachable: `),
    );
  });
});
