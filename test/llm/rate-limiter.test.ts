import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { type Logger, pino } from "pino";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgRateLimiter } from "../../src/llm/pg-rate-limiter.js";
import { type RateLimiter, type RateLimitOptions, SharedRateLimiter } from "../../src/llm/rate-limiter.js";
import { createSql, type Sql } from "../../src/store/database.js";
import { startPrivateRedis } from "../helpers/private-redis.js";
import {
  createTestDatabase,
  dropQueueKeys,
  REDIS_URL,
  type TestDatabase,
  uniqueName,
} from "../helpers/services.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

/**
 * Both limiters, one behaviour. Admissions are dated on the store's server, so each store
 * below also says how to read its log and its clock directly.
 */
interface Store {
  name: string;
  /** A limiter on its own connection, as each worker process has. */
  limiter(prefix: string, options: RateLimitOptions, logger?: Logger): RateLimiter;
  /** The log as the store holds it, oldest first (`at` in the server's ms since the epoch). */
  admissions(prefix: string): Promise<{ member: string; at: number; tokens: number | undefined }[]>;
  serverNow(): Promise<number>;
  /** Moves an admission `ms` into the past, as if its request had waited that long to leave. */
  backdate(prefix: string, member: string, ms: number): Promise<void>;
  /** A limiter whose store goes away when `cut` is called. */
  unreachable(prefix: string, options: RateLimitOptions, logger: Logger): Promise<UnreachableLimiter>;
}

interface UnreachableLimiter {
  limiter: RateLimiter;
  cut(): Promise<void>;
}

const prefixes: string[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  for (const prefix of prefixes) await dropQueueKeys(`{${prefix}:llm-rate}`);
  await db?.drop();
});

function connectRedis(url = REDIS_URL): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  redis.on("error", () => {});
  cleanups.push(() => redis.disconnect());
  return redis;
}

function redisKeys(prefix: string) {
  return { requests: `{${prefix}:llm-rate}:requests`, tokens: `{${prefix}:llm-rate}:tokens` };
}

const redisStore: Store = {
  name: "Redis",
  limiter: (prefix, options, logger) => new SharedRateLimiter(connectRedis(), prefix, options, logger),
  async admissions(prefix) {
    const redis = connectRedis();
    const { requests, tokens } = redisKeys(prefix);
    const entries = await redis.zrange(requests, 0, -1, "WITHSCORES");
    const tokenMembers = await redis.zrange(tokens, 0, -1);
    const log = [];
    for (let i = 0; i < entries.length; i += 2) {
      const member = entries[i] as string;
      const counted = tokenMembers.find((m) => m.startsWith(`${member}:`));
      log.push({
        member,
        at: Number(entries[i + 1]),
        tokens: counted ? Number(counted.split(":")[1]) : undefined,
      });
    }
    return log;
  },
  async serverNow() {
    const [seconds, micros] = await connectRedis().time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  },
  async backdate(prefix, member, ms) {
    const redis = connectRedis();
    const { requests } = redisKeys(prefix);
    await redis.zadd(requests, Number(await redis.zscore(requests, member)) - ms, member);
  },
  async unreachable(prefix, options, logger) {
    // A private server: stopping it leaves the shared one alone. The connection queues commands
    // and reconnects, so the restamp hangs rather than fails.
    const server = await startPrivateRedis();
    let stopped: Promise<void> | undefined;
    const stop = () => {
      stopped ??= server.stop().then(() => undefined);
      return stopped;
    };
    cleanups.push(stop);
    return { limiter: new SharedRateLimiter(connectRedis(server.url), prefix, options, logger), cut: stop };
  },
};

function connectPg(): Sql {
  const sql = createSql(db.url, { max: 2 });
  cleanups.push(() => sql.end({ timeout: 5 }));
  return sql;
}

const pgStore: Store = {
  name: "PostgreSQL",
  limiter: (prefix, options, logger) => new PgRateLimiter(connectPg(), prefix, options, logger),
  async admissions(prefix) {
    const rows = await db.sql<{ member: string; at: number; tokens: number }[]>`
      SELECT member, floor(extract(epoch FROM admitted_at) * 1000)::bigint AS at, tokens
      FROM llm_rate_admissions WHERE limiter_key = ${`${prefix}:llm-rate`} ORDER BY admitted_at`;
    return rows.map((row) => ({ ...row }));
  },
  async serverNow() {
    const [row] = await db.sql<{ now: number }[]>`
      SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now`;
    return row?.now as number;
  },
  async backdate(prefix, member, ms) {
    await db.sql`
      UPDATE llm_rate_admissions SET admitted_at = admitted_at - ${ms} * interval '1 millisecond'
      WHERE limiter_key = ${`${prefix}:llm-rate`} AND member = ${member}`;
  },
  async unreachable(prefix, options, logger) {
    const url = new URL(db.url);
    const proxy = new TcpProxy(Number(url.port || 5432));
    url.port = String(await proxy.start());
    // No array-type fetch on connect: a cut landing on it would be an unhandled rejection
    // (porsager/postgres#1192), which the entry points guard against but vitest reports.
    const sql = postgres(url.toString(), { max: 1, fetch_types: false, onnotice: () => {} });
    cleanups.push(
      () => proxy.close(),
      () => sql.end({ timeout: 1 }),
    );
    return {
      limiter: new PgRateLimiter(sql, prefix, options, logger),
      cut: async () => proxy.cut(),
    };
  },
};

function freshPrefix(): string {
  const prefix = uniqueName("sl-test-limiter");
  prefixes.push(prefix);
  return prefix;
}

function capturedLogger() {
  const warnings: { msg: string; err?: string }[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => warnings.push(JSON.parse(line)) });
  return { logger, warnings };
}

/** The most of `times` within any `windowMs`. */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  return Math.max(...sorted.map((t) => sorted.filter((u) => u >= t && u < t + windowMs).length));
}

describe.each([redisStore, pgStore])("$name rate limiter", (store) => {
  it("lets at most N requests into any window, counted across two workers", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: 3, tokensPerWindow: undefined, windowMs: 1000 };
    const workers = [store.limiter(prefix, options), store.limiter(prefix, options)];
    const started = performance.now();
    const admittedAt = await Promise.all(
      Array.from({ length: 7 }, async (_, i) => {
        const admission = await (workers[i % 2] as RateLimiter).acquire(10);
        await admission.markSent();
        return performance.now() - started;
      }),
    );
    expect(busiestWindow(admittedAt, options.windowMs)).toBe(3);
    // 3 + 3 + 1: the last window opens two windows (with the limiter's margin) after the first.
    expect(Math.max(...admittedAt)).toBeGreaterThanOrEqual(2 * options.windowMs);
    // The log holds about one window, not every request ever made.
    expect((await store.admissions(prefix)).length).toBeLessThanOrEqual(3);
  });

  it("counts tokens: a request waits until enough of the oldest leave the window", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: undefined, tokensPerWindow: 100, windowMs: 800 };
    const [a, b] = [store.limiter(prefix, options), store.limiter(prefix, options)];
    const started = performance.now();
    await (await a.acquire(60)).markSent();
    await (await b.acquire(30)).markSent();
    expect(performance.now() - started).toBeLessThan(500); // 90 of 100: both at once
    await (await a.acquire(30)).markSent(); // 120 > 100: waits for the 60 to leave
    expect(performance.now() - started).toBeGreaterThanOrEqual(options.windowMs);
    // The 60 has left; the first 30 too if it was admitted within the retry's jitter of it.
    const left = (await store.admissions(prefix)).map((e) => e.tokens);
    expect(left).not.toContain(60);
    expect(left.at(-1)).toBe(30);
  });

  it("a request larger than the whole token quota waits for the window to empty", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: undefined, tokensPerWindow: 100, windowMs: 800 };
    const [a, b] = [store.limiter(prefix, options), store.limiter(prefix, options)];
    await (await a.acquire(40)).markSent();
    const started = performance.now();
    await (await b.acquire(150)).markSent();
    expect(performance.now() - started).toBeGreaterThanOrEqual(options.windowMs - 100);
    expect((await store.admissions(prefix)).map((e) => e.tokens)).toEqual([150]);
  });

  it("pause() on one worker holds back the other", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: 100, tokensPerWindow: undefined, windowMs: 60_000 };
    const [a, b] = [store.limiter(prefix, options), store.limiter(prefix, options)];
    await (await b.acquire(1)).markSent();
    const started = performance.now();
    await a.pause(600);
    await (await b.acquire(1)).markSent();
    expect(performance.now() - started).toBeGreaterThanOrEqual(550);
  });

  it("markSent moves the admission to the server's current time", async () => {
    const prefix = freshPrefix();
    const limiter = store.limiter(prefix, {
      requestsPerWindow: 5,
      tokensPerWindow: 10_000,
      windowMs: 60_000,
    });
    const admission = await limiter.acquire(120);
    const [admitted] = await store.admissions(prefix);

    await sleep(250); // the work between admission and send: start marker, uploads
    const before = await store.serverNow();
    await admission.markSent();
    const after = await store.serverNow();

    const log = await store.admissions(prefix);
    expect(log).toHaveLength(1);
    const [sent] = log;
    expect(sent?.member).toBe(admitted?.member);
    expect(sent?.tokens).toBe(120);
    expect(sent?.at).toBeGreaterThanOrEqual(before);
    expect(sent?.at).toBeLessThanOrEqual(after);
    expect((sent?.at ?? 0) - (admitted?.at ?? 0)).toBeGreaterThanOrEqual(250);
  });

  it("an admission that expired before its send waits to be admitted anew under the quota", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: 1, tokensPerWindow: undefined, windowMs: 300 };
    // Two workers, each with its own connection.
    const slow = store.limiter(prefix, options);
    const other = store.limiter(prefix, options);
    const late = await slow.acquire(10);
    const [lateAdmitted] = await store.admissions(prefix);
    await sleep(700); // longer than the window (+ margin) before the request leaves
    const prompt = await other.acquire(10); // the quota no longer counts `late`: this one is let in
    await prompt.markSent();
    const [promptSent] = await store.admissions(prefix);
    expect(promptSent?.member).not.toBe(lateAdmitted?.member);

    await late.markSent(); // must not leave beside `prompt` in one window
    const lateSentAt = await store.serverNow();

    expect(lateSentAt - (promptSent?.at ?? 0)).toBeGreaterThanOrEqual(300);
    // `late` is back in the log under its own name, admitted once `prompt` left the window.
    const log = await store.admissions(prefix);
    expect(log.map((e) => e.member)).toEqual([lateAdmitted?.member]);
    expect((log[0]?.at ?? 0) - (promptSent?.at ?? 0)).toBeGreaterThanOrEqual(300);
  });

  it("acquire gives up waiting when the call is aborted", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: 1, tokensPerWindow: undefined, windowMs: 5000 };
    await (await store.limiter(prefix, options).acquire(10)).markSent();
    const controller = new AbortController();
    const started = performance.now();
    const waiting = store.limiter(prefix, options).acquire(10, controller.signal);
    setTimeout(() => controller.abort(), 100);
    await expect(waiting).rejects.toThrow(/abort/i);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await store.admissions(prefix)).toHaveLength(1);
  });

  it("markSent gives up waiting for re-admission when the call is aborted", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: 1, tokensPerWindow: undefined, windowMs: 2000 };
    const slow = store.limiter(prefix, options);
    const controller = new AbortController();
    const late = await slow.acquire(10, controller.signal);
    // Expired before its send, and another request has taken the quota since.
    const [admitted] = await store.admissions(prefix);
    await store.backdate(prefix, admitted?.member as string, 10_000);
    await (await store.limiter(prefix, options).acquire(10)).markSent();

    const sending = late.markSent();
    setTimeout(() => controller.abort(), 100);
    await expect(sending).rejects.toThrow(/abort/i);
  });

  it("a restamp the store cannot answer is logged and the call goes on", async () => {
    const prefix = freshPrefix();
    const { logger, warnings } = capturedLogger();
    const { limiter, cut } = await store.unreachable(
      prefix,
      { requestsPerWindow: 5, tokensPerWindow: undefined, windowMs: 60_000 },
      logger,
    );
    const admission = await limiter.acquire(10);
    await cut();

    const started = performance.now();
    await admission.markSent();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(warnings).toEqual([
      expect.objectContaining({
        msg: "could not date the LLM request's admission at its send; sending it anyway",
      }),
    ]);
  });
});

describe("SharedRateLimiter's two sorted sets", () => {
  it("carry the same admission at the same score, before and after markSent", async () => {
    const prefix = freshPrefix();
    const limiter = redisStore.limiter(prefix, {
      requestsPerWindow: 5,
      tokensPerWindow: 10_000,
      windowMs: 60_000,
    });
    const redis = connectRedis();
    const { requests, tokens } = redisKeys(prefix);
    const both = async () => {
      const [member, requestScore] = await redis.zrange(requests, 0, -1, "WITHSCORES");
      const [tokenMember, tokenScore] = await redis.zrange(tokens, 0, -1, "WITHSCORES");
      return { member, requestScore, tokenMember, tokenScore };
    };
    const admission = await limiter.acquire(120);
    const admitted = await both();
    expect(admitted.tokenMember).toBe(`${admitted.member}:120`);
    expect(admitted.tokenScore).toBe(admitted.requestScore);
    await sleep(20);
    await admission.markSent();
    const sent = await both();
    expect(sent.tokenMember).toBe(admitted.tokenMember);
    expect(sent.tokenScore).toBe(sent.requestScore);
    expect(Number(sent.requestScore)).toBeGreaterThan(Number(admitted.requestScore));
  });
});
