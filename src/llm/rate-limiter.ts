import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Logger, logger as processLogger } from "../logger.js";
import type { RedisConnection } from "../queue/redis.js";
import { withTimeout } from "../timeout.js";

/**
 * A sliding log in two sorted sets (requests; tokens encoded in the member), plus a shared
 * cooldown key a 429 sets. Server time (TIME) keeps workers on different hosts on one clock.
 * Atomic in Lua. ARGV: window, rpm, tpm, tokens, member.
 */
const SERVER_NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, rpm, tpm, tokens, member = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
`;

/** Enters the admission in the log (or moves it to now): both sets, each kept for one window. */
const RECORD = `
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], window)
if tpm > 0 then
  redis.call('ZADD', KEYS[2], now, member .. ':' .. tokens)
  redis.call('PEXPIRE', KEYS[2], window)
end
return 0`;

/**
 * Admits one request of `tokens` estimated tokens under `member` (returns 0), or says how long
 * to wait. One larger than the whole token quota waits for the window to empty: it can never
 * fit beside others, and letting it in at once would break the quota for everyone.
 */
const ADMIT_BODY = `
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
      if used + tokens <= tpm or i + 1 == #entries then
        return math.max(1, tonumber(entries[i + 1]) + window - now + 1)
      end
    end
  end
end
${RECORD}`;

const ADMIT = SERVER_NOW + ADMIT_BODY;

/**
 * Dates an admission to now, the moment its request leaves. Still in the log: it was counted
 * by every admission since, so moving its score later is all it takes. Trimmed (it waited
 * longer than a window to be sent, and later admissions no longer counted it): it must be
 * admitted anew under the quota, like a fresh request, before it may leave.
 */
const RESTAMP = `${SERVER_NOW}
if redis.call('ZSCORE', KEYS[1], member) then
${RECORD}
end
${ADMIT_BODY}`;

/**
 * Slack for what lies between our stamp and the provider's count: the stamp's own round trip
 * and the request's way out (admissions are dated when sent, so not the pre-send work).
 */
export const WINDOW_MARGIN_MS = 200;

/**
 * A restamp slower than this (the store unreachable) is not waited for; see `Admission.markSent`.
 * Generous: a busy store answering late must not pass for one that is gone, or sends go undated.
 */
const RESTAMP_TIMEOUT_MS = 2500;

export interface RateLimitOptions {
  requestsPerWindow: number | undefined;
  tokensPerWindow: number | undefined;
  windowMs: number;
}

/**
 * One admitted request. Its place in the window is held from admission, and `markSent` moves
 * it to the moment the request actually leaves: the work in between (the call's start marker,
 * chart uploads) no longer lets one window's burst reach the provider late while the next
 * window's goes out at once.
 *
 * An admission never sent (the call aborted before sending) is left in the log, not released:
 * it frees itself a window later, and releasing it is only safe if the request surely never
 * left, which a client that does not call `markSent` cannot promise.
 */
export interface Admission {
  /**
   * Call right before the request leaves (a property, so it can be handed on as a callback).
   * Never fails the call over the limiter's store: on error or timeout it logs and resolves,
   * leaving the admission dated at admission time (the old, looser bound) or, if the restamp
   * is still queued, at a later time, which is safe. Rejects only when the call's signal
   * aborts while it waits to be admitted anew.
   */
  readonly markSent: () => Promise<void>;
}

/**
 * The LLM key's request and token budget, shared by every worker: at most N requests (and T
 * tokens) in ANY window, and a 429 from the provider pauses every worker. Kept in Redis
 * (`SharedRateLimiter`) or, with no Redis, in PostgreSQL (`PgRateLimiter`).
 */
export interface RateLimiter {
  /** Waits until one more request of about `tokens` input tokens fits in the window. */
  acquire(tokens: number, signal?: AbortSignal): Promise<Admission>;
  /** The provider said 429: hold every worker back for `ms`. */
  pause(ms: number): Promise<void>;
}

/**
 * One attempt in the store, atomic there: "admit" enters `member` in the log if it fits;
 * "restamp" moves it to now if it is still logged, else admits it anew. Resolves to 0 once
 * done, or to the milliseconds to wait before trying again.
 */
export type AdmitOnce = (mode: "admit" | "restamp", member: string, tokens: number) => Promise<number>;

/**
 * `RateLimiter.acquire` over a store's single attempt. The retry loop, its jitter and
 * `markSent`'s policy live here once, so both stores keep exactly the same semantics.
 */
export async function acquireWith(
  attempt: AdmitOnce,
  store: { name: string; logger: Logger },
  tokens: number,
  signal: AbortSignal | undefined,
): Promise<Admission> {
  const member = randomBytes(8).toString("hex");
  const rounded = Math.max(0, Math.round(tokens));
  await untilAdmitted(() => attempt("admit", member, rounded), signal);
  return {
    markSent: async () => {
      try {
        await untilAdmitted(() => attempt("restamp", member, rounded), signal, {
          ms: RESTAMP_TIMEOUT_MS,
          error: () => new Error(`no reply from ${store.name} within ${RESTAMP_TIMEOUT_MS} ms`),
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        store.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          "could not date the LLM request's admission at its send; sending it anyway",
        );
      }
    },
  };
}

/** Tries `tryOnce` (the wait in ms it returns, 0 once admitted) until admitted; `timeout` bounds each try. */
async function untilAdmitted(
  tryOnce: () => Promise<number>,
  signal: AbortSignal | undefined,
  timeout?: { ms: number; error: () => Error },
): Promise<void> {
  for (;;) {
    const wait = Number(timeout ? await withTimeout(tryOnce(), timeout.ms, timeout.error) : await tryOnce());
    if (wait <= 0) return;
    // A little jitter so waiting workers do not all retry in the same millisecond.
    await sleep(wait + Math.floor(Math.random() * 25), undefined, { signal });
  }
}

/**
 * The limiter in Redis: a sliding log in sorted sets and a cooldown key, one Lua script per
 * attempt. Unlike fixed-window counters it guarantees at most N requests in ANY window.
 */
export class SharedRateLimiter implements RateLimiter {
  readonly #keys: string[];
  readonly #logger: Logger;

  constructor(
    private readonly redis: RedisConnection,
    keyPrefix: string,
    private readonly options: RateLimitOptions,
    logger: Logger = processLogger,
  ) {
    // One hash tag, so the three keys live in one Redis Cluster slot.
    const tag = `{${keyPrefix}:llm-rate}`;
    this.#keys = [`${tag}:requests`, `${tag}:tokens`, `${tag}:cooldown`];
    this.#logger = logger.child({ component: "rate-limiter" });
  }

  acquire(tokens: number, signal?: AbortSignal): Promise<Admission> {
    return acquireWith(
      (mode, member, rounded) => this.#attempt(mode === "admit" ? ADMIT : RESTAMP, member, rounded),
      { name: "Redis", logger: this.#logger },
      tokens,
      signal,
    );
  }

  async pause(ms: number): Promise<void> {
    await this.redis.set(this.#keys[2] as string, "1", "PX", Math.max(1, Math.round(ms)));
  }

  async #attempt(script: string, member: string, tokens: number): Promise<number> {
    const reply = await this.redis.eval(
      script,
      3,
      ...this.#keys,
      this.options.windowMs + WINDOW_MARGIN_MS,
      this.options.requestsPerWindow ?? 0,
      this.options.tokensPerWindow ?? 0,
      tokens,
      member,
    );
    return Number(reply);
  }
}
