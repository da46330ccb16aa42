import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { freePort } from "./cli.js";
import { redisCliTlsArgs, redisTlsArgs, type TlsFiles } from "./tls-certs.js";

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface RedisClusterHandle {
  /** redis+cluster://127.0.0.1:p1,127.0.0.1:p2,… (the seed nodes, as REDIS_URL takes them). */
  url: string;
  nodes: ClusterNode[];
  /** The node that holds `key`'s slot as master now. */
  masterOf(key: string): Promise<ClusterNode>;
  /** Waits until every live node says the cluster is ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Waits until a replica has taken over `key`'s slot from the (killed) master on `oldPort`. */
  waitForFailover(key: string, oldPort: number, timeoutMs?: number): Promise<ClusterNode>;
  stop(): Promise<void>;
}

let cliTls: string[] = [];

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", [...cliTls, "-h", "127.0.0.1", "-p", String(port), ...args]);
  return stdout;
}

/**
 * A real Redis Cluster of the test's own: 3 masters and 3 replicas from the redis-server binary
 * on free ports, in a temp dir, no persistence; `redis-cli --cluster create` joins them.
 * Replicas take over a killed master after `node-timeout` (1 s here).
 */
export async function startRedisCluster(options: { tls?: TlsFiles } = {}): Promise<RedisClusterHandle> {
  const { tls } = options;
  // One cluster at a time per test file: its redis-cli calls speak TLS when it does.
  cliTls = tls ? redisCliTlsArgs(tls) : [];
  const dir = await mkdtemp(path.join(os.tmpdir(), "sl-redis-cluster-"));
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push(await freePort());
  const children = new Map<number, ChildProcess>();
  for (const port of ports) {
    const child = spawn(
      "redis-server",
      [
        ...(tls
          ? [...redisTlsArgs(tls, port), "--tls-cluster", "yes", "--tls-replication", "yes"]
          : ["--port", String(port)]),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--cluster-node-timeout",
        "1000",
        "--save",
        "",
        "--appendonly",
        "no",
        // No 5 s pause before a replica's first (diskless) sync: a replica never synced cannot take over.
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        dir,
      ],
      { stdio: "ignore" },
    );
    children.set(port, child);
  }
  for (const port of ports) {
    for (let i = 0; ; i++) {
      try {
        if ((await cli(port, "ping")).trim() === "PONG") break;
      } catch {
        if (i > 100) throw new Error(`redis-server on ${port} did not start`);
      }
      await sleep(50);
    }
  }
  await run("redis-cli", [
    ...cliTls,
    "--cluster",
    "create",
    ...ports.map((p) => `127.0.0.1:${p}`),
    "--cluster-replicas",
    "1",
    "--cluster-yes",
  ]);
  const node = (port: number): ClusterNode => ({
    port,
    async kill(signal = "SIGKILL") {
      const child = children.get(port);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
    },
  });
  const alive = () =>
    ports.filter((p) => {
      const child = children.get(p);
      return child && child.exitCode === null && child.signalCode === null;
    });
  const handle: RedisClusterHandle = {
    url: `${tls ? "rediss" : "redis"}+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(",")}`,
    nodes: ports.map(node),
    async masterOf(key) {
      const [first] = alive();
      const slot = Number((await cli(first as number, "cluster", "keyslot", key)).trim());
      // CLUSTER SLOTS as JSON: [start, end, [ip, port, id], …replicas]
      const table = JSON.parse(await cli(first as number, "--json", "cluster", "slots")) as [
        number,
        number,
        [string, number, string],
      ][];
      const owner = table.find(([start, end]) => slot >= start && slot <= end);
      if (!owner) throw new Error(`no master serves slot ${slot}`);
      return node(owner[2][1]);
    },
    async waitHealthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const ok = await Promise.all(
          alive().map((p) =>
            cli(p, "cluster", "info").then(
              (info) => info.includes("cluster_state:ok"),
              () => false,
            ),
          ),
        );
        if (ok.length > 0 && ok.every(Boolean)) return;
        if (Date.now() > deadline) throw new Error("the Redis Cluster did not become healthy");
        await sleep(200);
      }
    },
    async waitForFailover(key, oldPort, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const master = await handle.masterOf(key).catch(() => undefined);
        if (master && master.port !== oldPort) {
          await handle.waitHealthy(Math.max(1_000, deadline - Date.now()));
          return master;
        }
        if (Date.now() > deadline) throw new Error(`no replica took over ${key}'s slot from ${oldPort}`);
        await sleep(200);
      }
    },
    async stop() {
      await Promise.all(ports.map((p) => node(p).kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  await handle.waitHealthy();
  // Every replica in sync with its master before anything relies on a failover.
  for (const port of ports) {
    for (let i = 0; ; i++) {
      const info = await cli(port, "info", "replication");
      if (info.includes("role:master") || info.includes("master_link_status:up")) break;
      if (i > 200) throw new Error(`replica ${port} did not sync`);
      await sleep(50);
    }
  }
  return handle;
}
