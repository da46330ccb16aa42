import { z } from "zod";
import { parseLimit, parsePositiveInt, parseSince, parseUsd } from "../cli/input.js";
import { UsageError } from "../config/config.js";
import { analysisIdSchema, modelSchema, quoteInput, tickerSchema } from "../queue/job-payload.js";
import { REPORT_FORMATS } from "../report/report-format.js";
import { ANALYSIS_STATUSES } from "../store/analyses-repo.js";
import { EXPORT_TABLES } from "../store/export-repo.js";
import { STATS_DIMENSIONS, STATS_RANGES } from "../store/stats-periods.js";
import { decodeCursor, InvalidCursorError } from "./cursor.js";
import { CALL_STATUSES, EXPORT_FORMATS, parseExportUntil } from "./export-stream.js";

/**
 * Request and response schemas of the HTTP API. Tickers, ids and models use the CLI's own
 * zod schemas and parse helpers, so both refuse exactly the same input with the same words.
 */

type Parser<T> = (raw: string) => T;
type ErrorClass = new (...args: never[]) => Error;

/**
 * The reason in a CLI parse helper's UsageError (`invalid <what> "<raw>": <reason>`): the
 * error handler names the field and the value itself. Errors of other types are bugs: rethrown.
 */
function reasonOf(error: unknown, raw: string, errors: ErrorClass[]): string {
  if (!(error instanceof UsageError) && !errors.some((type) => error instanceof type)) throw error;
  const message = (error as Error).message;
  const shown = ` ${quoteInput(raw)}: `;
  const at = message.indexOf(shown);
  return at >= 0 ? message.slice(at + shown.length) : message;
}

/** Why a CLI parse helper refuses `raw`, or null when it takes it. */
function refusal(parse: Parser<unknown>, raw: string): string | null {
  try {
    parse(raw);
    return null;
  } catch (error) {
    return reasonOf(error, raw, []);
  }
}

/** Runs a CLI parse helper in a zod transform; a refusal becomes the issue's message. */
function parsedBy<T>(parse: Parser<T>, errors: ErrorClass[] = []) {
  return (raw: string, ctx: z.core.$RefinementCtx<unknown>): T => {
    try {
      return parse(raw);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: reasonOf(error, raw, errors) });
      return z.NEVER;
    }
  };
}

/** Adapts a CLI parse helper to a zod string schema that refuses exactly what the CLI refuses. */
function fromParser<T>(parse: Parser<T>, ...errors: ErrorClass[]) {
  return z.string().transform(parsedBy(parse, errors));
}

/**
 * A JSON number checked by a CLI parse helper on its decimal text, so a body field keeps the
 * limits and words of the flag it mirrors (max_tokens 1.5 → "must be a whole number of at
 * least 1"). With `strings` a decimal string is taken too: an exact amount such as "0.05".
 * A value of the wrong type gets the helper's reason as well, when it has one.
 */
function fromNumberParser<T>(parse: Parser<T>, options: { strings?: boolean } = {}) {
  const wrongType = (issue: { input?: unknown }) =>
    issue.input === undefined
      ? undefined
      : (refusal(parse, String(issue.input)) ??
        (options.strings ? "must be a number or a decimal string" : "must be a JSON number"));
  const input = options.strings
    ? z.union([z.string(), z.number()], { error: wrongType })
    : z.number({ error: wrongType });
  // A JSON number's shortest round-trip text is what its sender wrote for any amount the
  // helpers accept; 1e21 or 1e-7 stay in exponent form and are refused.
  return input.transform((value, ctx) => parsedBy(parse)(String(value), ctx));
}

export const errorSchema = z
  .object({
    error: z.string().describe("machine-readable code: bad_request, unauthorized, not_found, unavailable, …"),
    message: z.string().describe("one human-readable line"),
  })
  .meta({ id: "Error" });

/**
 * What the error handler (errors.ts) answers for any route that reads the ledger: 503 when
 * Postgres does not answer, 500 for anything unexpected.
 */
export const ledgerErrorResponses = {
  500: errorSchema.describe(
    "an unexpected failure, such as a database without the stock-ledger tables; details in the server log",
  ),
  503: errorSchema.describe("the database (PostgreSQL) is unavailable; try again"),
};

/** A response whose body is text of a media type other than JSON, and its OpenAPI description. */
export const textResponse = (description: string, ...mediaTypes: string[]) => ({
  description,
  content: Object.fromEntries(mediaTypes.map((type) => [type, { schema: z.string() }])),
});

const tickerParam = tickerSchema.meta({
  description: "upper-cased, then 1-20 of A-Z 0-9 . & - (RELIANCE, M&M, BAJAJ-AUTO, TCS.NS, BRK.B)",
  examples: ["RELIANCE"],
});

/** The controls of `analyze`, validated by its own helpers (the message names the JSON field). */
const maxTokensParam = fromNumberParser((raw) => parsePositiveInt(raw, "max_tokens")).meta({
  type: "integer",
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description: "stop spending on this analysis after this many tokens (as --max-tokens)",
});

const maxCostParam = fromNumberParser((raw) => parseUsd(raw, "max_cost_usd"), { strings: true }).meta({
  pattern: "^\\d+(\\.\\d{1,6})?$",
  description:
    "stop spending on this analysis after this many USD (as --max-cost): above 0, at most 6 " +
    'decimals; a decimal string ("0.05") is kept exactly as written',
});

const flagParam = z.boolean({ error: "must be true or false" }).optional();

export const enqueueBodySchema = z.strictObject({
  tickers: z.array(tickerParam).min(1, "needs at least one ticker").max(100, "at most 100 tickers"),
  model: modelSchema.optional().describe("Gemini model; default GEMINI_MODEL"),
  id: analysisIdSchema.optional().describe("client-chosen analysis id: makes the request idempotent"),
  max_tokens: maxTokensParam.optional(),
  max_cost_usd: maxCostParam.optional(),
  reuse: flagParam.describe(
    "reuse stage answers of identical recent inputs (as --reuse); default REUSE_BY_DEFAULT",
  ),
  context_cache: flagParam.describe(
    "put the stages' shared prompt prefix in an explicit Gemini context cache (as --context-cache); default false",
  ),
  batch: flagParam.describe(
    "run through Gemini's Batch API at half price, answers within 24 h (as --batch); default false",
  ),
  batch_fallback: z
    .enum(["none", "sync"], { error: "must be sync or none" })
    .optional()
    .describe(
      "batch requests that fail, expire or are cancelled: sync asks again at the standard price, none fails the stage (as --batch-fallback); default none",
    ),
  allow_partial: flagParam.describe(
    "run the stages that fit when the whole analysis cannot fit under max_tokens/max_cost_usd " +
      "(as --allow-partial); default false",
  ),
  allow_unpriced: flagParam.describe(
    "run a model the price book does not know, its costs unknown (as --allow-unpriced); " +
      "without it such a model is refused with 400",
  ),
});

export const enqueueResponseSchema = z.object({
  analyses: z.array(z.object({ id: z.string(), ticker: z.string() })),
});

export const listQuerySchema = z.strictObject({
  ticker: tickerParam.optional(),
  status: z.enum(ANALYSIS_STATUSES).optional(),
  since: fromParser(parseSince).optional().describe("YYYY-MM-DD (UTC) or ISO timestamp, inclusive"),
  until: fromParser(parseSince).optional().describe("YYYY-MM-DD (UTC) or ISO timestamp, exclusive"),
  limit: fromParser((raw) => parseLimit(raw, 1000))
    .optional()
    .describe("1-1000, default 20"),
  cursor: fromParser(decodeCursor, InvalidCursorError)
    .optional()
    .describe("next_cursor of the previous page"),
});

export const analysisIdParamsSchema = z.object({ id: analysisIdSchema });

/** GET /analyses/:id/report: as `report --format`. */
export const reportQuerySchema = z.strictObject({
  format: z.enum(REPORT_FORMATS).optional().describe("md (default) or html"),
});

/** The failure and token counts every usage shape carries: a stage's breakdown, a day, a stats group. */
const failedAndTokensShape = {
  failed_calls: z.number(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  thinking_tokens: z.number(),
  cached_input_tokens: z.number(),
  total_tokens: z.number(),
};

const breakdownEntrySchema = z.looseObject({
  calls: z.number(),
  successful_calls: z.number(),
  ...failedAndTokensShape,
  duration_ms: z.number(),
  cost_usd: z.number().nullable(),
  errors: z.array(z.object({ attempt: z.number(), type: z.string(), message: z.string() })),
});

/** A `stock_analyses` row with its column names, as `show --json` and `list --json` print it. */
export const analysisRowSchema = z
  .looseObject({
    id: z.string(),
    ticker: z.string(),
    status: z.enum(ANALYSIS_STATUSES),
    model: z.string(),
    created_at: z.date(),
    started_at: z.date().nullable(),
    completed_at: z.date().nullable(),
    duration_ms: z.number().nullable(),
    total_input_tokens: z.number(),
    total_output_tokens: z.number(),
    total_tokens: z.number(),
    llm_calls_count: z.number(),
    thinking_tokens: z.number(),
    cached_input_tokens: z.number(),
    failed_calls_count: z.number(),
    cost_usd: z.number().nullable(),
    token_usage_breakdown: z.record(z.string(), breakdownEntrySchema),
    decision: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    tokens_saved: z.number(),
    cost_saved_usd: z.number().nullable(),
    batch_saved_usd: z
      .number()
      .describe("what its batch calls saved: their cost at the standard rates less at the batch rates"),
  })
  .meta({ id: "Analysis" });

/** An `llm_calls` row: one attempt. */
export const callRowSchema = z
  .looseObject({
    analysis_id: z.string(),
    call_type: z.string(),
    attempt: z.number(),
    model: z.string(),
    status: z.enum(["success", "failure", "interrupted"]),
    input_tokens: z.number(),
    output_tokens: z.number(),
    thinking_tokens: z.number(),
    cached_input_tokens: z.number(),
    total_tokens: z.number(),
    usage_source: z.string(),
    error_type: z.string().nullable(),
    error_message: z.string().nullable(),
    started_at: z.date(),
    duration_ms: z.number().nullable(),
    cost_usd: z.number().nullable(),
    service_tier: z.enum(["standard", "batch"]).describe("batch: sent through the Batch API"),
    batch_saved_usd: z
      .number()
      .nullable()
      .describe("batch calls: cost at the standard rates less cost at the batch rates; null otherwise"),
  })
  .meta({ id: "LlmCall" });

export const listResponseSchema = z.object({
  analyses: z.array(analysisRowSchema),
  next_cursor: z.string().nullable().describe("pass as ?cursor= for the next page; null on the last"),
});

export const analysisDetailSchema = analysisRowSchema.extend({ calls: z.array(callRowSchema) });

export const dailyUsageQuerySchema = z.strictObject({
  days: fromParser((raw) => parseLimit(raw, 366))
    .optional()
    .describe("how many UTC days up to today, 1-366, default 30"),
});

/** The counts a per-day usage row and a stats group share. */
const usageCountsShape = { analyses: z.number(), calls: z.number(), ...failedAndTokensShape };

/**
 * What stage reuse, prompt caching and batch mode saved (the cached tokens were billed at the
 * cheaper rate, batch calls at the batch rates).
 */
const savingsShape = {
  reuse_tokens_saved: z.number(),
  reuse_cost_saved_usd: z.number(),
  cache_cost_saved_usd: z.number().describe("cached tokens × (input rate − cached-input rate)"),
  batch_saved_usd: z.number().describe("batch calls' cost at the standard rates − at the batch rates"),
};

export const dailyUsageResponseSchema = z.object({
  days: z.array(
    z.object({
      day: z.string(),
      ...usageCountsShape,
      cost_usd: z.number(),
      ...savingsShape,
    }),
  ),
  tickers: z
    .array(z.object({ ticker: z.string(), cached_input_tokens: z.number(), ...savingsShape }))
    .describe("savings per ticker over the same days, largest first"),
});

const statsGroupSchema = z.looseObject({
  key: z.string(),
  ...usageCountsShape,
  cost_usd: z.number().nullable(),
  cost_per_1k_tokens: z.number().nullable(),
  success_rate: z.number().nullable(),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
  unpriced_calls: z.number(),
  tokens_saved: z.number().describe("tokens reuse did not spend"),
  reuse_cost_saved_usd: z.number().describe("USD reuse saved"),
  cache_cost_saved_usd: z.number().describe("USD cached input tokens saved"),
  batch_saved_usd: z
    .number()
    .describe("USD batch mode saved: batch calls' cost at the standard rates less at the batch rates"),
});

export const statsQuerySchema = z.strictObject({
  range: z.enum(STATS_RANGES).optional().describe("default all; not with since/until"),
  by: z.enum(STATS_DIMENSIONS).optional().describe("default stage"),
  since: z.string().optional().describe("first UTC day, YYYY-MM-DD"),
  until: z.string().optional().describe("last UTC day, YYYY-MM-DD, inclusive"),
});

/** As `stats --json` prints it (DESIGN §5). */
export const statsResponseSchema = z
  .looseObject({
    from: z.string(),
    to: z.string().describe("exclusive"),
    by: z.enum(STATS_DIMENSIONS),
    totals: statsGroupSchema,
    groups: z.array(statsGroupSchema),
  })
  .meta({ id: "Stats" });

export const exportQuerySchema = z.strictObject({
  format: z.enum(EXPORT_FORMATS).describe("csv (with a header row) or json (NDJSON)"),
  what: z.enum(EXPORT_TABLES).optional().describe("default analyses"),
  since: fromParser(parseSince).optional().describe("YYYY-MM-DD (UTC) or ISO timestamp, inclusive"),
  until: fromParser(parseExportUntil)
    .optional()
    .describe("ISO timestamp (exclusive) or YYYY-MM-DD (through that UTC day)"),
  ticker: tickerParam.optional(),
  status: z
    .string()
    .optional()
    .describe(`an analysis status, or for calls one of ${CALL_STATUSES.join(", ")}`),
});

const budgetAmountSchema = z.object({
  spent: z.number(),
  budget: z.number().nullable().describe("null when not configured"),
  fraction: z.number().nullable().describe("spent / budget; 1 = all of it"),
});

export const budgetResponseSchema = z
  .object({
    day: z.string().describe("today, UTC"),
    tokens: budgetAmountSchema,
    cost_usd: budgetAmountSchema,
    alert_threshold: z.number(),
    when_exceeded: z.enum(["refuse", "queue"]),
    alerts: z.array(
      z.object({
        kind: z.enum(["tokens", "cost"]),
        threshold: z.number(),
        spent: z.number(),
        budget: z.number(),
        created_at: z.date(),
      }),
    ),
    resets_at: z.date().describe("start of the next UTC day"),
  })
  .meta({ id: "BudgetStatus" });

export const readinessSchema = z.object({
  status: z.enum(["ready", "not_ready"]),
  checks: z.object({ postgres: z.string(), redis: z.string().optional(), queue: z.string().optional() }),
});
