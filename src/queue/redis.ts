import { Cluster, Redis } from "ioredis";
import { withTimeout } from "../timeout.js";
import { parseRedisUrl } from "./redis-url.js";

export type RedisConnection = Redis | Cluster;

/**
 * BullMQ connections. Workers and QueueEvents block on Redis and must retry forever
 * (`maxRetriesPerRequest: null`); a producer fails fast so a CLI user is not left hanging.
 * A `redis+cluster://` URL gives an ioredis Cluster over its seed nodes.
 */
export function createRedis(url: string, role: "worker" | "producer"): RedisConnection {
  const options = {
    maxRetriesPerRequest: role === "worker" ? null : 2,
    enableOfflineQueue: role === "worker",
    connectTimeout: 5_000,
  };
  const target = parseRedisUrl(url);
  if (typeof target === "string") throw new Error(`invalid REDIS_URL: ${target}`);
  if (target.kind === "single") return new Redis(url, { ...options, lazyConnect: false });
  return new Cluster(target.nodes, {
    enableOfflineQueue: options.enableOfflineQueue,
    // A failover moves slots: follow MOVED/ASK and refresh the slot table instead of failing.
    retryDelayOnMoved: 100,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    redisOptions: {
      ...options,
      ...(target.tls ? { tls: {} } : {}),
      username: target.username,
      password: target.password,
    },
  });
}

/**
 * Closes a connection politely when it can: QUIT waits for a reply that a silent or
 * never-reached server does not give, so then (or after a second) it just hangs up.
 */
export async function closeRedis(connection: RedisConnection): Promise<void> {
  if (connection.status !== "ready") {
    connection.disconnect();
    return;
  }
  await withTimeout(connection.quit(), 1_000, () => new Error("no reply to QUIT")).catch(() =>
    connection.disconnect(),
  );
}
