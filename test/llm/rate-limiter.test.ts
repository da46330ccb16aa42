import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { SharedRateLimiter } from "../../src/llm/rate-limiter.js";
import { startPrivateRedis } from "../helpers/private-redis.js";
import { dropQueueKeys, REDIS_URL, uniqueName } from "../helpers/services.js";

/** Admissions are dated on the Redis server: these tests read its sorted sets directly. */

const prefixes: string[] = [];
const connections: Redis[] = [];

function connect(url = REDIS_URL): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  redis.on("error", () => {});
  connections.push(redis);
  return redis;
}

function keysOf(prefix: string) {
  return { requests: `{${prefix}:llm-rate}:requests`, tokens: `{${prefix}:llm-rate}:tokens` };
}

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

async function serverNowMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** The one admission's score in both sets (the tokens member is `member:tokens`). */
async function scores(redis: Redis, prefix: string) {
  const { requests, tokens } = keysOf(prefix);
  const [member, requestScore] = await redis.zrange(requests, 0, -1, "WITHSCORES");
  const [tokenMember, tokenScore] = await redis.zrange(tokens, 0, -1, "WITHSCORES");
  return { member, requestScore: Number(requestScore), tokenMember, tokenScore: Number(tokenScore) };
}

afterAll(async () => {
  for (const redis of connections) redis.disconnect();
  for (const prefix of prefixes) await dropQueueKeys(`{${prefix}:llm-rate}`);
});

describe("SharedRateLimiter admissions dated at send", () => {
  it("markSent moves the admission to the server's current time in both sets", async () => {
    const redis = connect();
    const prefix = freshPrefix();
    const limiter = new SharedRateLimiter(redis, prefix, {
      requestsPerWindow: 5,
      tokensPerWindow: 10_000,
      windowMs: 60_000,
    });
    const admission = await limiter.acquire(120);
    const admitted = await scores(redis, prefix);
    expect(admitted.tokenMember).toBe(`${admitted.member}:120`);
    expect(admitted.tokenScore).toBe(admitted.requestScore);

    await sleep(250); // the work between admission and send: start marker, uploads
    const before = await serverNowMs(redis);
    await admission.markSent();
    const after = await serverNowMs(redis);

    const sent = await scores(redis, prefix);
    expect(sent.member).toBe(admitted.member);
    expect(sent.tokenMember).toBe(admitted.tokenMember);
    expect(sent.requestScore).toBeGreaterThanOrEqual(before);
    expect(sent.requestScore).toBeLessThanOrEqual(after);
    expect(sent.requestScore - admitted.requestScore).toBeGreaterThanOrEqual(250);
    expect(sent.tokenScore).toBe(sent.requestScore);
    expect(await redis.zcard(keysOf(prefix).requests)).toBe(1);
  });

  it("an admission that expired before its send waits to be admitted anew under the quota", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: 1, tokensPerWindow: undefined, windowMs: 300 };
    // Two workers, each with its own connection.
    const slow = new SharedRateLimiter(connect(), prefix, options);
    const other = new SharedRateLimiter(connect(), prefix, options);
    const late = await slow.acquire(10);
    await sleep(700); // longer than the window (+ margin) before the request leaves
    const prompt = await other.acquire(10); // the quota no longer counts `late`: this one is let in
    await prompt.markSent();
    const redis = connect();
    const promptSent = await scores(redis, prefix);

    await late.markSent(); // must not leave beside `prompt` in one window
    const lateSentAt = await serverNowMs(redis);

    expect(lateSentAt - promptSent.requestScore).toBeGreaterThanOrEqual(300);
    // `late` is back in the log, admitted once `prompt` left the window.
    const lateSent = await scores(redis, prefix);
    expect(lateSent.member).not.toBe(promptSent.member);
    expect(lateSent.requestScore - promptSent.requestScore).toBeGreaterThanOrEqual(300);
  });

  it("a restamp Redis cannot answer is logged and the call goes on", async () => {
    const server = await startPrivateRedis();
    const prefix = freshPrefix();
    const { logger, warnings } = capturedLogger();
    const limiter = new SharedRateLimiter(
      connect(server.url),
      prefix,
      { requestsPerWindow: 5, tokensPerWindow: undefined, windowMs: 60_000 },
      logger,
    );
    const admission = await limiter.acquire(10);
    await server.stop(); // a blip: the worker's connection queues commands and reconnects

    const started = performance.now();
    await admission.markSent();
    expect(performance.now() - started).toBeLessThan(3000);
    expect(warnings).toEqual([
      expect.objectContaining({
        msg: "could not date the LLM request's admission at its send; sending it anyway",
      }),
    ]);
  });

  it("markSent gives up waiting for re-admission when the call is aborted", async () => {
    const prefix = freshPrefix();
    const options = { requestsPerWindow: 1, tokensPerWindow: undefined, windowMs: 2000 };
    const slow = new SharedRateLimiter(connect(), prefix, options);
    const controller = new AbortController();
    const late = await slow.acquire(10, controller.signal);
    // Expired before its send, and another request has taken the quota since.
    const redis = connect();
    const { requests } = keysOf(prefix);
    const [member] = await redis.zrange(requests, 0, 0);
    await redis.zadd(requests, (await serverNowMs(redis)) - 10_000, member as string);
    await (await new SharedRateLimiter(connect(), prefix, options).acquire(10)).markSent();

    const sending = late.markSent();
    setTimeout(() => controller.abort(), 100);
    await expect(sending).rejects.toThrow(/abort/i);
  });
});
