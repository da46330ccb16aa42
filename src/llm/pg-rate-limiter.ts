import { type Logger, logger as processLogger } from "../logger.js";
import type { Sql } from "../store/database.js";
import {
  type Admission,
  acquireWith,
  type RateLimiter,
  type RateLimitOptions,
  WINDOW_MARGIN_MS,
} from "./rate-limiter.js";

/** The limiter's state as the attempt found it, in the server's milliseconds since the epoch. */
interface WindowState {
  now_ms: number;
  /** Milliseconds left of the 429 cooldown; null or ≤ 0 when none. */
  cooldown_ms: number | null;
  /** The member is in the log (trimmed or not, as Redis's ZSCORE sees it). */
  logged: boolean;
  /** The window's admissions, oldest first: [admitted at (ms), tokens]. */
  entries: [number, number][];
}

/**
 * The limiter in PostgreSQL, for QUEUE_BACKEND=postgres where there is no Redis: the same
 * sliding log and cooldown as `SharedRateLimiter`, as rows (sql/013_llm_rate_limiter.sql).
 * Each attempt is one transaction under a transaction-scoped advisory lock on the key, which
 * is what Lua's atomicity gives the Redis one; clock_timestamp(), read once the lock is held,
 * keeps every worker on the server's clock and the log in admission order.
 */
export class PgRateLimiter implements RateLimiter {
  readonly #key: string;
  readonly #logger: Logger;

  constructor(
    private readonly sql: Sql,
    keyPrefix: string,
    private readonly options: RateLimitOptions,
    logger: Logger = processLogger,
  ) {
    this.#key = `${keyPrefix}:llm-rate`;
    this.#logger = logger.child({ component: "rate-limiter" });
  }

  acquire(tokens: number, signal?: AbortSignal): Promise<Admission> {
    return acquireWith(
      (mode, member, rounded) => this.#tryOnce(mode, member, rounded),
      { name: "PostgreSQL", logger: this.#logger },
      tokens,
      signal,
    );
  }

  async pause(ms: number): Promise<void> {
    // Overwrites, as Redis's SET PX does: the latest 429's delay is the one in force.
    await this.sql`
      INSERT INTO llm_rate_cooldowns (limiter_key, until)
      VALUES (${this.#key}, clock_timestamp() + ${Math.max(1, Math.round(ms))} * interval '1 millisecond')
      ON CONFLICT (limiter_key) DO UPDATE SET until = EXCLUDED.until`;
  }

  /** One `AdmitOnce` attempt (see rate-limiter.ts), in one transaction. */
  async #tryOnce(mode: "admit" | "restamp", member: string, tokens: number): Promise<number> {
    const key = this.#key;
    const window = this.options.windowMs + WINDOW_MARGIN_MS;
    return this.sql.begin(async (tx) => {
      // Sent together: the state is read as soon as the lock is granted, so the lock is held
      // for one round trip less. Each statement takes its own snapshot, so the read sees every
      // admission committed by the lock's previous holder.
      const [, [state]] = await Promise.all([
        tx`SELECT pg_advisory_xact_lock(hashtext(${key}))`,
        // The trim spares `member`: a restamp must still find it (the check below reads the
        // snapshot from before the trim, as Redis's ZSCORE runs before its trim).
        tx<WindowState[]>`
          WITH clock AS (
            SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms
          ), horizon AS (
            SELECT now_ms, to_timestamp((now_ms - ${window}::bigint) / 1000.0) AS oldest_kept FROM clock
          ), trimmed AS (
            DELETE FROM llm_rate_admissions a USING horizon h
            WHERE a.limiter_key = ${key} AND a.admitted_at <= h.oldest_kept AND a.member <> ${member}
          )
          SELECT h.now_ms,
            (SELECT ceil(extract(epoch FROM c.until) * 1000)::bigint - h.now_ms
               FROM llm_rate_cooldowns c WHERE c.limiter_key = ${key}) AS cooldown_ms,
            EXISTS (SELECT 1 FROM llm_rate_admissions a
                    WHERE a.limiter_key = ${key} AND a.member = ${member}) AS logged,
            COALESCE(
              (SELECT json_agg(json_build_array(floor(extract(epoch FROM a.admitted_at) * 1000)::bigint, a.tokens)
                               ORDER BY a.admitted_at)
                 FROM llm_rate_admissions a
                WHERE a.limiter_key = ${key} AND a.admitted_at > h.oldest_kept),
              '[]'::json) AS entries
          FROM horizon h`,
      ]);
      if (!state) throw new Error("rate limiter: the window's state query returned no row");
      const wait = mode === "restamp" && state.logged ? 0 : this.#admissionWait(state, window, tokens);
      if (wait > 0) return wait;
      // Recorded at the attempt's own `now`, as the Lua scripts do: admission and restamp alike.
      await tx`
        INSERT INTO llm_rate_admissions (limiter_key, member, admitted_at, tokens)
        VALUES (${key}, ${member}, to_timestamp(${state.now_ms}::bigint / 1000.0), ${tokens})
        ON CONFLICT (limiter_key, member) DO UPDATE SET admitted_at = EXCLUDED.admitted_at`;
      return 0;
    });
  }

  /** ADMIT_BODY's checks in rate-limiter.ts, on the rows: 0 if it fits, else the wait in ms. */
  #admissionWait(state: WindowState, window: number, tokens: number): number {
    const cooldown = Number(state.cooldown_ms ?? 0);
    if (cooldown > 0) return cooldown;
    const now = Number(state.now_ms);
    const { entries } = state;
    const rpm = this.options.requestsPerWindow ?? 0;
    const tpm = this.options.tokensPerWindow ?? 0;
    const freedAt = (entry: [number, number]) => Math.max(1, entry[0] + window - now + 1);
    if (rpm > 0 && entries.length >= rpm) return freedAt(entries[0] as [number, number]);
    if (tpm > 0) {
      let used = entries.reduce((sum, [, t]) => sum + t, 0);
      if (used > 0 && used + tokens > tpm) {
        // Once enough of the oldest leave; one larger than the whole quota once all have.
        for (const [i, entry] of entries.entries()) {
          used -= entry[1];
          if (used + tokens <= tpm || i === entries.length - 1) return freedAt(entry);
        }
      }
    }
    return 0;
  }
}
