import { z } from "zod";
import { hasHashTag, isClusterUrl, parseRedisUrl } from "../queue/redis-url.js";

/** Thrown for invalid configuration or input; the CLI maps it to exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  override name = "UsageError";
}

/**
 * A whole number from `min` to `max` (or `min` or more), counting `unit`; every way of missing
 * it (not a number, a fraction, out of range) gives the one message naming the range.
 */
const wholeNumber = (min: number, max?: number, unit?: string) => {
  const what = unit ? `a whole number of ${unit}` : "a whole number";
  const message =
    max === undefined ? `must be ${what}, ${min} or more` : `must be ${what} from ${min} to ${max}`;
  const schema = z.coerce.number(message).int(message).min(min, message);
  return max === undefined ? schema : schema.max(max, message);
};

const positiveInt = (max: number, unit?: string) => wholeNumber(1, max, unit);

/** One of a few words: "must be on or off", "must be one of a, b, c". */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, {
    error:
      values.length === 2 ? `must be ${values[0]} or ${values[1]}` : `must be one of ${values.join(", ")}`,
  });

const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`,
    );

const FRACTION = "must be a number between 0 and 1 (both excluded), such as 0.8";

/** The whole environment of DESIGN §2, parsed once at start. */
const envSchema = z.object({
  DATABASE_URL: url(["postgres:", "postgresql:"]).default("postgres://postgres@127.0.0.1:5432/stock_ledger"),
  // "transaction": DATABASE_URL is a pooler in transaction mode (PgBouncer): no prepared
  // statements, and what needs a session (LISTEN, the PostgreSQL queue) uses DATABASE_LISTEN_URL.
  DATABASE_POOLING: oneOf(["session", "transaction"]).default("session"),
  DATABASE_LISTEN_URL: url(["postgres:", "postgresql:"]).optional(),
  // redis:// or rediss:// for one server; redis+cluster://h1:p1,h2:p2 (rediss+cluster://) for a Redis Cluster.
  REDIS_URL: z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      const target = parseRedisUrl(value);
      if (typeof target === "string") ctx.addIssue({ code: "custom", message: target });
    })
    .default("redis://127.0.0.1:6379"),
  // Where the BullMQ queue lives: Redis, or BullMQ's PostgreSQL backend in DATABASE_URL's database.
  QUEUE_BACKEND: oneOf(["redis", "postgres"]).default("redis"),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]{1,64}$/, "must be 1-64 letters, digits, _ - . { } (no ':')")
    .default("stock-ledger"),
  GEMINI_API_KEY: z.string().trim().min(1, "must not be empty when set").optional(),
  // The SDK builds `${baseUrl}/${version}/...`, so a trailing slash would double up.
  GEMINI_BASE_URL: url(["http:", "https:"])
    .transform((value) => value.replace(/\/+$/, ""))
    .optional(),
  GEMINI_MODEL: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,63}$/, "must be a model name such as gemini-2.5-flash")
    .default("gemini-2.5-flash"),
  WORKER_CONCURRENCY: positiveInt(1024).default(8),
  LLM_TIMEOUT_MS: positiveInt(600_000, "milliseconds").default(60_000),
  LLM_MAX_ATTEMPTS: positiveInt(10).default(4),
  // How long a worker's claim on a job lasts without renewal: a killed worker's jobs are
  // picked up again after about this long.
  WORKER_LOCK_MS: wholeNumber(1000, 600_000, "milliseconds").default(10_000),
  // How often each worker re-queues analyses that Postgres says are unfinished but Redis lost.
  RECOVERY_INTERVAL_MS: wholeNumber(500, 3_600_000, "milliseconds").default(60_000),
  // The LLM key's quota, shared by all workers through Redis; unset = no limit of our own.
  LLM_RPM: positiveInt(1_000_000, "requests").optional(),
  LLM_TPM: positiveInt(1_000_000_000, "tokens").optional(),
  LLM_RATE_WINDOW_MS: wholeNumber(100, 3_600_000, "milliseconds").default(60_000),
  // Daily budget across all analyses (UTC day); unset = none.
  DAILY_TOKEN_BUDGET: wholeNumber(1, undefined, "tokens").optional(),
  DAILY_COST_BUDGET_USD: z
    .string()
    .regex(/^\d+(\.\d{1,6})?$/, "must be a USD amount such as 25 or 12.50")
    .refine((v) => Number(v) > 0, "must be more than 0")
    .optional(),
  BUDGET_ALERT_THRESHOLD: z.coerce.number(FRACTION).gt(0, FRACTION).lt(1, FRACTION).default(0.8),
  // What happens to new analyses once the daily budget is spent: refuse them, or queue them for tomorrow.
  DAILY_BUDGET_EXCEEDED: oneOf(["refuse", "queue"]).default("refuse"),
  // Stage reuse: answers to an identical input are reused for this long (analyze --reuse).
  REUSE_TTL_SECONDS: positiveInt(30 * 24 * 3600, "seconds").default(6 * 3600),
  REUSE_BY_DEFAULT: oneOf(["true", "false"]).default("false"),
  // Show the chart-reading stages their charts as inline images (as the original system did).
  CHARTS: oneOf(["on", "off"]).default("on"),
  // How charts reach Gemini: uploaded once per process through the Files API and referenced by
  // uri ("files"), or inline base64 in every call ("inline"). Both are billed the same tokens.
  CHART_TRANSPORT: oneOf(["files", "inline"]).default("files"),
  // Batch mode: how long requests gather before a batch is sent, and how often a pending batch
  // is polled (from the first interval, doubling up to the last).
  BATCH_COLLECT_MS: wholeNumber(0, 3_600_000, "milliseconds").default(3_000),
  BATCH_POLL_MIN_MS: wholeNumber(10, 3_600_000, "milliseconds").default(5_000),
  BATCH_POLL_MAX_MS: wholeNumber(10, 86_400_000, "milliseconds").default(300_000),
  // How long the built-in emulator takes to finish a batch.
  EMULATOR_BATCH_DELAY_MS: wholeNumber(0, 86_400_000, "milliseconds").default(2_000),
  EMULATOR_LATENCY_MS: wholeNumber(0, 60_000, "milliseconds").default(0),
  EMULATOR_FAULTS: z.string().optional(),
  // Where analyses get prices: "sample" (imported CSV, then the shipped samples) or "live"
  // (also Yahoo Finance, cached in price_bars for MARKET_DATA_TTL_MINUTES).
  MARKET_DATA: oneOf(["sample", "live"]).default("sample"),
  MARKET_DATA_TTL_MINUTES: positiveInt(10_080, "minutes").default(360),
  MARKET_DATA_TIMEOUT_MS: positiveInt(120_000, "milliseconds").default(10_000),
  // JSON price book adding or overriding rates (src/config/price-book-file.ts); read by installPriceBook.
  PRICE_BOOK_FILE: z
    .string()
    .trim()
    .min(1, "must be a path to a JSON price book")
    .refine((value) => !value.includes("\0"), "must be a path to a JSON price book")
    .optional(),
  // Bearer token the HTTP API requires on write endpoints; unset leaves them open (bound to 127.0.0.1).
  API_TOKEN: z
    .string()
    .regex(/^[\x21-\x7e]{16,256}$/, "must be 16-256 printable characters without spaces")
    .optional(),
});

/** Batch mode's timing (BATCH_* env vars). */
export interface BatchSettings {
  /** How long a request waits for others before its batch is sent. */
  collectMs: number;
  /** First poll interval of a pending batch; doubles up to pollMaxMs. */
  pollMinMs: number;
  pollMaxMs: number;
}

export interface MarketDataConfig {
  /** "live" adds Yahoo Finance between imported prices and the shipped samples. */
  source: "sample" | "live";
  cacheTtlMs: number;
  timeoutMs: number;
}

export interface DailyBudget {
  dailyTokens: number | undefined;
  /** Decimal string, kept exact. */
  dailyCostUsd: string | undefined;
  alertThreshold: number;
  whenExceeded: "refuse" | "queue";
}

export type Config = {
  databaseUrl: string;
  /** "transaction" behind PgBouncer's transaction pooling (DESIGN §10). */
  databasePooling: "session" | "transaction";
  /** A session connection for LISTEN and the PostgreSQL queue when DATABASE_URL is a transaction pooler. */
  databaseListenUrl: string | undefined;
  redisUrl: string;
  /** "postgres": no command opens a Redis connection (DESIGN §10). */
  queueBackend: "redis" | "postgres";
  queuePrefix: string;
  gemini: {
    apiKey: string | undefined;
    baseUrl: string | undefined;
    model: string;
    timeoutMs: number;
    maxAttempts: number;
    rateLimit: {
      requestsPerWindow: number | undefined;
      tokensPerWindow: number | undefined;
      windowMs: number;
    };
    /** True when no key and no base URL are set: the built-in emulator serves. */
    useEmulator: boolean;
    /** Charts uploaded once and referenced ("files"), or inline in every call. */
    chartTransport: "files" | "inline";
  };
  workerConcurrency: number;
  workerLockMs: number;
  charts: boolean;
  reuse: { ttlSeconds: number; byDefault: boolean };
  budget: DailyBudget;
  recoveryIntervalMs: number;
  batch: BatchSettings;
  emulator: { latencyMs: number; faults: string | undefined; batchDelayMs: number };
  /** Price source settings; optional so hand-built configs (tests) can leave it out: "sample". */
  market?: MarketDataConfig;
  /** Required as `Authorization: Bearer` on the API's write endpoints when set. */
  apiToken: string | undefined;
  /** PRICE_BOOK_FILE: versions merged into the shipped price book by installPriceBook at start. */
  priceBookFile?: string | undefined;
};

const NOT_ECHOED = new Set(["GEMINI_API_KEY", "API_TOKEN", "QUEUE_BACKEND"]);

/** A value as an error message shows it: quoted, at most 40 characters, a URL's user and password masked. */
export function quoteEnvValue(value: string): string {
  const masked = value.replace(/\/\/[^/@\s]*@/, "//***@");
  return JSON.stringify(masked.length > 40 ? `${masked.slice(0, 40)}…` : masked);
}

/** Parses the environment; the first problem becomes one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(
    Object.entries(env).filter(([key, value]) => key in envSchema.shape && value !== ""),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? "environment");
    const value = present[name];
    // The bad value is echoed (shortened, URL credentials masked) unless it is a secret, blank, or
    // QUEUE_BACKEND, whose message is matched exactly by scripts and tests.
    const echo =
      typeof value === "string" && value.trim() !== "" && !NOT_ECHOED.has(name)
        ? `, not ${quoteEnvValue(value)}`
        : "";
    throw new UsageError(`invalid ${name}: ${issue?.message ?? "invalid value"}${echo}`);
  }
  const e = parsed.data;
  // BullMQ needs all of a queue's keys in one cluster slot: only a hash tag puts them there.
  // BullMQ's PostgreSQL backend holds sessions (LISTEN, its migration lock): never through a transaction pooler.
  if (e.QUEUE_BACKEND === "postgres" && e.DATABASE_POOLING === "transaction" && !e.DATABASE_LISTEN_URL) {
    throw new UsageError(
      "invalid DATABASE_POOLING: with QUEUE_BACKEND=postgres, transaction pooling needs DATABASE_LISTEN_URL (a session connection) for the queue",
    );
  }
  if (e.QUEUE_BACKEND === "redis" && isClusterUrl(e.REDIS_URL) && !hasHashTag(e.QUEUE_PREFIX)) {
    throw new UsageError(
      `invalid QUEUE_PREFIX: with a Redis Cluster (REDIS_URL=redis+cluster://…) it must hold a hash tag, such as {${e.QUEUE_PREFIX.replace(/[{}]/g, "")}}`,
    );
  }
  return {
    databaseUrl: e.DATABASE_URL,
    databasePooling: e.DATABASE_POOLING,
    databaseListenUrl: e.DATABASE_LISTEN_URL,
    redisUrl: e.REDIS_URL,
    queueBackend: e.QUEUE_BACKEND,
    queuePrefix: e.QUEUE_PREFIX,
    gemini: {
      apiKey: e.GEMINI_API_KEY,
      baseUrl: e.GEMINI_BASE_URL,
      model: e.GEMINI_MODEL,
      timeoutMs: e.LLM_TIMEOUT_MS,
      maxAttempts: e.LLM_MAX_ATTEMPTS,
      rateLimit: { requestsPerWindow: e.LLM_RPM, tokensPerWindow: e.LLM_TPM, windowMs: e.LLM_RATE_WINDOW_MS },
      useEmulator: e.GEMINI_API_KEY === undefined && e.GEMINI_BASE_URL === undefined,
      chartTransport: e.CHART_TRANSPORT,
    },
    workerConcurrency: e.WORKER_CONCURRENCY,
    workerLockMs: e.WORKER_LOCK_MS,
    charts: e.CHARTS === "on",
    reuse: { ttlSeconds: e.REUSE_TTL_SECONDS, byDefault: e.REUSE_BY_DEFAULT === "true" },
    budget: {
      dailyTokens: e.DAILY_TOKEN_BUDGET,
      dailyCostUsd: e.DAILY_COST_BUDGET_USD,
      alertThreshold: e.BUDGET_ALERT_THRESHOLD,
      whenExceeded: e.DAILY_BUDGET_EXCEEDED,
    },
    recoveryIntervalMs: e.RECOVERY_INTERVAL_MS,
    batch: {
      collectMs: e.BATCH_COLLECT_MS,
      pollMinMs: e.BATCH_POLL_MIN_MS,
      pollMaxMs: Math.max(e.BATCH_POLL_MAX_MS, e.BATCH_POLL_MIN_MS),
    },
    emulator: {
      latencyMs: e.EMULATOR_LATENCY_MS,
      faults: e.EMULATOR_FAULTS,
      batchDelayMs: e.EMULATOR_BATCH_DELAY_MS,
    },
    market: {
      source: e.MARKET_DATA,
      cacheTtlMs: e.MARKET_DATA_TTL_MINUTES * 60_000,
      timeoutMs: e.MARKET_DATA_TIMEOUT_MS,
    },
    apiToken: e.API_TOKEN,
    priceBookFile: e.PRICE_BOOK_FILE,
  };
}
