import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Config } from "../config/config.js";
import { startEmbeddedPostgres } from "../embedded/embedded-postgres.js";
import { portAnswers } from "../embedded/postgres-process.js";
import { serviceAddress } from "../service-unreachable.js";

/** How long `demo` waits for a default address to accept a connection before it does without. */
const PROBE_MS = 500;

async function answers(url: string, defaultPort: number): Promise<boolean> {
  const parsed = new URL(url);
  return portAnswers(Number(parsed.port || defaultPort), PROBE_MS, parsed.hostname || "127.0.0.1");
}

export interface DemoServices {
  config: Config;
  /** One line saying what `demo` does without, or undefined when it found both services. */
  notice: string | undefined;
  /** Stops the embedded PostgreSQL and deletes its files; a no-op when none was started. */
  stop(): Promise<void>;
}

/**
 * `demo` on a machine with only Node (DESIGN §10): where DATABASE_URL is unset and nothing
 * answers at the default address, an embedded PostgreSQL of its own in a temp dir; where
 * neither REDIS_URL nor QUEUE_BACKEND is set and no Redis answers, the PostgreSQL queue backend.
 * Anything the user did set is used as is, and fails as it would for any command.
 */
export async function demoServices(config: Config, env: NodeJS.ProcessEnv): Promise<DemoServices> {
  const unset = (name: string) => env[name] === undefined || env[name] === "";
  const [noPostgres, noRedis] = await Promise.all([
    unset("DATABASE_URL") ? answers(config.databaseUrl, 5432).then((up) => !up) : false,
    unset("REDIS_URL") && unset("QUEUE_BACKEND") && config.queueBackend === "redis"
      ? answers(config.redisUrl, 6379).then((up) => !up)
      : false,
  ]);
  if (!noPostgres && !noRedis) return { config, notice: undefined, stop: async () => {} };

  const missing = [
    noPostgres ? `PostgreSQL at ${serviceAddress(config.databaseUrl, 5432)}` : "",
    noRedis ? `Redis at ${serviceAddress(config.redisUrl, 6379)}` : "",
  ].filter(Boolean);
  let next: Config = noRedis ? { ...config, queueBackend: "postgres" } : config;
  let stop = async () => {};
  const using: string[] = [];
  if (noPostgres) {
    const dir = await mkdtemp(path.join(os.tmpdir(), "stock-ledger-demo-"));
    const server = await startEmbeddedPostgres({ dir, detached: false });
    next = { ...next, databaseUrl: server.url };
    stop = () => server.stop();
    using.push("an embedded PostgreSQL of its own (removed at exit)");
  }
  if (noRedis) using.push("the queue in PostgreSQL (QUEUE_BACKEND=postgres)");
  return {
    config: next,
    notice: `demo: nothing answers as ${missing.join(" or ")}: running on ${using.join(", with ")}`,
    stop,
  };
}
