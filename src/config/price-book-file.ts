import { readFileSync } from "node:fs";
import { z } from "zod";
import {
  effectiveAt,
  type ModelPrice,
  mergePriceBooks,
  PRICE_BOOK,
  type PriceBook,
  type PriceTable,
  resolvePrice,
  usePriceBook,
} from "../ledger/price-table.js";
import { UsageError } from "./config.js";

/**
 * PRICE_BOOK_FILE: a hand-written JSON price book that adds versions to the shipped one
 * (negotiated discounts, models the shipped book lacks), USD per 1M tokens as decimal strings:
 *
 *   {"versions": [{"version": "acme-2026-12", "effectiveFrom": "2026-12-01",
 *     "models": {"gemini-2.5-flash": {"input": "0.27", "output": "2.25", "cachedInput": "0.027"},
 *                "gemini-2.5-pro": {"input": "1.10", "output": "9", "cachedInput": "0.11",
 *                  "longContext": {"input": "2.20", "output": "13.50", "cachedInput": "0.22"},
 *                  "longContextThreshold": 200000}}}]}
 *
 * Semantics (mergePriceBooks): the file's versions join the shipped ones in effectiveFrom
 * order, and a call is priced by the newest version in force at its start that lists its
 * model. So a file version overrides only the models it names, from its effectiveFrom on
 * (at the same moment as a shipped version, the file's wins), and only until a later
 * version, shipped or filed, lists that model again: after a list-price change, add a new
 * file version if the discount still applies. A model first priced by the file prices calls
 * before its effectiveFrom too, as any model's first price does. Calls record the file
 * version's name in llm_calls.price_version, so version names are unique across file and
 * shipped book, and a version that has priced calls should never change its rates.
 * A model entry replaces the whole price of that model, so overriding a model that has
 * long-context rates must give them too (no tier silently falls back to the standard rate).
 * `batch` (and `batchLongContext`) give Batch API rates; without them a batch call is priced
 * at half the entry's input and output rates and its cache rate, Google's batch rule.
 */

/** A bad PRICE_BOOK_FILE: one line naming the file and the entry; exit 2 like any bad env. */
export class PriceBookFileError extends UsageError {
  override name = "PriceBookFileError";
}

// ≤ 6 decimals: a token then costs a whole number of picodollars (src/ledger/pricing.ts).
const RATE = /^\d{1,9}(\.\d{1,6})?$/;
const RATE_HELP = "expected a decimal string of USD per 1M tokens";

/**
 * A rate as an exact decimal string. A JSON number is taken by its shortest round-trip form,
 * which is the digits written for any value with ≤ 6 decimals; anything a double would have
 * rounded has more than 6 decimals and is refused.
 */
const rate = z.unknown().transform((value, ctx) => {
  const text = typeof value === "number" && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== "string" || !/^-?\d+(\.\d+)?$/.test(text)) {
    ctx.addIssue({ code: "custom", message: value === undefined ? `missing: ${RATE_HELP}` : RATE_HELP });
    return z.NEVER;
  }
  if (text.startsWith("-")) {
    ctx.addIssue({ code: "custom", message: `${text} is negative: rates are 0 or more` });
    return z.NEVER;
  }
  if (!RATE.test(text)) {
    const fraction = text.split(".")[1] ?? "";
    ctx.addIssue({
      code: "custom",
      message:
        fraction.length > 6
          ? `${text} has more than 6 decimals (a token must cost whole picodollars)`
          : `${text} has more than 9 digits before the point`,
    });
    return z.NEVER;
  }
  return text;
});

const rateCard = z.strictObject({ input: rate, output: rate, cachedInput: rate });

const modelEntry = z
  .strictObject({
    input: rate,
    output: rate,
    cachedInput: rate,
    longContext: rateCard.optional(),
    longContextThreshold: z
      .number({ error: "expected a whole number of prompt tokens" })
      .int({ error: "expected a whole number of prompt tokens" })
      .min(1, { error: "expected a whole number of prompt tokens" })
      .optional(),
    batch: rateCard.optional(),
    batchLongContext: rateCard.optional(),
  })
  .refine((entry) => (entry.longContext === undefined) === (entry.longContextThreshold === undefined), {
    error: "longContext and longContextThreshold go together",
  })
  .refine((entry) => entry.batchLongContext === undefined || entry.longContext !== undefined, {
    error: "batchLongContext needs longContext",
  });

const DATE = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A real calendar day (Date.parse takes 2026-02-30 as March 2), optionally with a zoned time. */
function isMoment(value: string): boolean {
  const match = DATE.exec(value);
  if (!match) return false;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const day = new Date(Date.UTC(y, m - 1, d));
  return (
    day.getUTCFullYear() === y &&
    day.getUTCMonth() === m - 1 &&
    day.getUTCDate() === d &&
    !Number.isNaN(effectiveAt({ effectiveFrom: value }))
  );
}

const version = z.strictObject({
  version: z
    .string({ error: "expected a version name such as acme-2026-12" })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: "expected a version name such as acme-2026-12 (letters, digits, . _ -; at most 64)",
    }),
  effectiveFrom: z
    .string({ error: "expected a UTC date such as 2026-12-01 or a timestamp with a zone" })
    .refine(isMoment, { error: "expected a UTC date such as 2026-12-01 or a timestamp with a zone" }),
  models: z
    .record(
      z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,63}$/, { error: "expected a model name such as gemini-2.5-flash" }),
      modelEntry,
      {
        error: (issue) =>
          issue.code === "invalid_type" ? "expected an object of model name → rates" : undefined,
      },
    )
    .refine((models) => Object.keys(models).length > 0, { error: "lists no model" }),
});

const fileSchema = z.strictObject({
  versions: z
    .array(version, { error: 'expected a list of price versions: {"versions": [...]}' })
    .min(1, { error: "lists no version" }),
});

type FileVersion = z.infer<typeof version>;

/** versions[0].models.gemini-2.5-flash.input */
function entryPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`))
    .join("");
}

function toTable(entry: FileVersion): PriceTable {
  const models: Record<string, ModelPrice> = {};
  for (const [
    name,
    { input, output, cachedInput, longContext, longContextThreshold, batch, batchLongContext },
  ] of Object.entries(entry.models)) {
    models[name] = {
      standard: { input, output, cachedInput },
      ...(longContext && longContextThreshold !== undefined ? { longContext, longContextThreshold } : {}),
      ...(batch ? { batch } : {}),
      ...(batchLongContext ? { batchLongContext } : {}),
    };
  }
  return { version: entry.version, effectiveFrom: entry.effectiveFrom, models };
}

/** Rules across entries, each as [entry path, problem]; the first one is reported. */
function crossCheck(versions: readonly FileVersion[], base: PriceBook): [string, string] | undefined {
  const shipped = new Set(base.map((table) => table.version));
  const names = new Map<string, number>();
  const moments = new Map<number, number>();
  for (const [i, entry] of versions.entries()) {
    if (shipped.has(entry.version)) {
      return [`versions[${i}].version`, `${entry.version} is a built-in price version; pick another name`];
    }
    const sameName = names.get(entry.version);
    if (sameName !== undefined) {
      return [`versions[${i}].version`, `${entry.version} is already the name of versions[${sameName}]`];
    }
    names.set(entry.version, i);
    const at = effectiveAt(entry);
    const sameMoment = moments.get(at);
    if (sameMoment !== undefined) {
      return [
        `versions[${i}].effectiveFrom`,
        `${entry.effectiveFrom} is when versions[${sameMoment}] takes effect too; give each version its own moment`,
      ];
    }
    moments.set(at, i);
    for (const [model, price] of Object.entries(entry.models)) {
      const inForce = resolvePrice(model, new Date(at), base);
      if (inForce?.model === model && inForce.price.longContext && !price.longContext) {
        return [
          `versions[${i}].models.${model}`,
          `the built-in price has long-context rates above ${inForce.price.longContextThreshold} prompt tokens; ` +
            "give longContext and longContextThreshold too",
        ];
      }
    }
  }
  return undefined;
}

/**
 * The versions of a price book file's text, checked against `base` (the shipped book).
 * `label` names the file in errors. Pure: tests call it without a file.
 */
export function parsePriceBookFile(text: string, label: string, base: PriceBook = PRICE_BOOK): PriceTable[] {
  const fail = (problem: string): never => {
    throw new PriceBookFileError(`PRICE_BOOK_FILE ${label}: ${problem.replace(/\s*\n\s*/g, " ")}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON: ${(error as Error).message}`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = entryPath(issue?.path ?? []);
    // A bad model name is reported as "Invalid key in record" around the key schema's own issue.
    const message = (issue?.code === "invalid_key" ? issue.issues[0]?.message : undefined) ?? issue?.message;
    return fail(`${path ? `${path}: ` : ""}${message ?? "invalid"}`);
  }
  const problem = crossCheck(parsed.data.versions, base);
  if (problem) return fail(`${problem[0]}: ${problem[1]}`);
  return parsed.data.versions.map(toTable);
}

/** Reads and checks PRICE_BOOK_FILE; the shipped book merged with its versions. */
export function loadPriceBook(file: string | undefined, base: PriceBook = PRICE_BOOK): PriceBook {
  if (file === undefined) return base;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory, not a JSON file"
          : `cannot read it (${code ?? (error as Error).message})`;
    throw new PriceBookFileError(`PRICE_BOOK_FILE ${file}: ${reason}`);
  }
  return mergePriceBooks(base, parsePriceBookFile(text, file, base));
}

/**
 * Call once at start in every process that prices or checks models (CLI, API, worker):
 * loads PRICE_BOOK_FILE (config.priceBookFile) and makes the merged book the one every
 * pricing path uses. Throws PriceBookFileError (a UsageError: exit 2) for a bad file.
 */
export function installPriceBook(config: { priceBookFile?: string | undefined }): PriceBook {
  const book = loadPriceBook(config.priceBookFile);
  usePriceBook(book);
  return book;
}
