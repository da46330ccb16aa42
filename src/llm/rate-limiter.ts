import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";

/**
 * Admits one request of `tokens` estimated tokens, or says how long to wait. A sliding log in
 * two sorted sets (requests; tokens encoded in the member), plus a shared cooldown key a 429
 * sets. Server time (TIME) keeps workers on different hosts on one clock. Atomic in Lua.
 */
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, rpm, tpm, tokens, member = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local cooldown = redis.call('PTTL', KEYS[3])
if cooldown > 0 then return cooldown end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if rpm > 0 and redis.call('ZCARD', KEYS[1]) >= rpm then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now + 1)
end
if tpm > 0 then
  local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local used = 0
  for i = 1, #entries, 2 do used = used + tonumber(string.match(entries[i], ':(%d+)$')) end
  if used > 0 and used + tokens > tpm then
    for i = 1, #entries, 2 do
      used = used - tonumber(string.match(entries[i], ':(%d+)$'))
      if used + tokens <= tpm then return math.max(1, tonumber(entries[i + 1]) + window - now + 1) end
    end
  end
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], window)
if tpm > 0 then
  redis.call('ZADD', KEYS[2], now, member .. ':' .. tokens)
  redis.call('PEXPIRE', KEYS[2], window)
end
return 0`;

/** Slack for clock and network jitter between our admission and the provider's count. */
const WINDOW_MARGIN_MS = 200;

export interface RateLimitOptions {
  requestsPerWindow: number | undefined;
  tokensPerWindow: number | undefined;
  windowMs: number;
}

/**
 * One request and token budget for the LLM key, shared by every worker through Redis. Unlike
 * fixed-window counters it guarantees at most N requests in ANY window, and a 429 from the
 * provider pauses every worker, not just the one that got it.
 */
export class SharedRateLimiter {
  readonly #keys: string[];

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    private readonly options: RateLimitOptions,
  ) {
    // One hash tag, so the three keys live in one Redis Cluster slot.
    const tag = `{${keyPrefix}:llm-rate}`;
    this.#keys = [`${tag}:requests`, `${tag}:tokens`, `${tag}:cooldown`];
  }

  /** Waits until one more request of about `tokens` input tokens fits in the window. */
  async acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    const member = randomBytes(8).toString("hex");
    for (;;) {
      const wait = Number(
        await this.redis.eval(
          ADMIT,
          3,
          ...this.#keys,
          this.options.windowMs + WINDOW_MARGIN_MS,
          this.options.requestsPerWindow ?? 0,
          this.options.tokensPerWindow ?? 0,
          Math.max(0, Math.round(tokens)),
          member,
        ),
      );
      if (wait <= 0) return;
      // A little jitter so waiting workers do not all retry in the same millisecond.
      await sleep(wait + Math.floor(Math.random() * 25), undefined, { signal });
    }
  }

  /** The provider said 429: hold every worker back for `ms`. */
  async pause(ms: number): Promise<void> {
    await this.redis.set(this.#keys[2] as string, "1", "PX", Math.max(1, Math.round(ms)));
  }
}
