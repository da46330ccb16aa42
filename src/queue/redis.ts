import { Redis } from "ioredis";

/**
 * BullMQ connections. Workers and QueueEvents block on Redis and must retry forever
 * (`maxRetriesPerRequest: null`); a producer fails fast so a CLI user is not left hanging.
 */
export function createRedis(url: string, role: "worker" | "producer"): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === "worker" ? null : 2,
    enableOfflineQueue: role === "worker",
    connectTimeout: 5_000,
    lazyConnect: false,
  });
}
