/**
 * REDIS_URL as DESIGN §2 takes it: `redis://` and `rediss://` (TLS) for one server, and
 * `redis+cluster://host:port[,host:port…]` / `rediss+cluster://…` for a Redis Cluster's seed
 * nodes (WHATWG URLs cannot hold a host list, so the cluster form is parsed here).
 */
export type RedisTarget =
  | { kind: "single"; url: string }
  | {
      kind: "cluster";
      nodes: { host: string; port: number }[];
      tls: boolean;
      username: string | undefined;
      password: string | undefined;
    };

const CLUSTER = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;
const NODE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

/** The target, or a message saying what is wrong (for the env error line). */
export function parseRedisUrl(value: string): RedisTarget | string {
  const cluster = CLUSTER.exec(value.trim());
  if (cluster) {
    const [, scheme, credentials, hosts] = cluster;
    const nodes: { host: string; port: number }[] = [];
    for (const seed of (hosts ?? "").split(",")) {
      const node = NODE.exec(seed);
      const port = Number(node?.[2] ?? 6379);
      if (!node || port < 1 || port > 65_535)
        return `bad cluster node ${JSON.stringify(seed)}: use host:port`;
      nodes.push({ host: (node[1] as string).replace(/^\[(.*)\]$/, "$1"), port });
    }
    const [user, pass] = credentials === undefined ? [] : credentials.split(":", 2);
    return {
      kind: "cluster",
      nodes,
      tls: scheme === "rediss",
      username: user ? decodeURIComponent(user) : undefined,
      password: pass ? decodeURIComponent(pass) : undefined,
    };
  }
  try {
    const protocol = new URL(value).protocol;
    if (protocol === "redis:" || protocol === "rediss:") return { kind: "single", url: value };
  } catch {
    // falls through to the message
  }
  return "must be a URL starting with redis:// or rediss://, or redis+cluster://host:port,… for a Redis Cluster";
}

export const isClusterUrl = (value: string) => /^rediss?\+cluster:\/\//.test(value.trim());

/** BullMQ keeps a queue's keys in one slot only if the prefix holds a hash tag such as {stock-ledger}. */
export const hasHashTag = (prefix: string) => /\{[^{}]+\}/.test(prefix);
