import { GEMINI_PRICE_BOOK } from "./prices/gemini-prices.js";

/**
 * Versioned list prices in USD per 1M tokens, by model. A price version names the table a
 * call was priced with, so it can be re-priced later from `llm_calls.raw_usage`. Thinking
 * tokens are billed at the output rate; cached input at its own rate. Long-context models
 * change rate above `longContextThreshold` prompt tokens.
 */
export interface RateCard {
  input: string;
  output: string;
  cachedInput: string;
}

export interface ModelPrice {
  standard: RateCard;
  /** Rates when the prompt exceeds `longContextThreshold` tokens. */
  longContext?: RateCard;
  longContextThreshold?: number;
  /** Batch API rates (Gemini bills batch requests at half the standard input and output rates). */
  batch?: RateCard;
  /** Batch rates above `longContextThreshold`. */
  batchLongContext?: RateCard;
}

/** One version of the price list: the models whose rates it sets from `effectiveFrom` on. */
export interface PriceTable {
  version: string;
  /** UTC: "YYYY-MM-DD" (midnight) or a full ISO timestamp. */
  effectiveFrom: string;
  models: Record<string, ModelPrice>;
}

/** Every version ever in force, oldest first. */
export type PriceBook = readonly PriceTable[];

/** The shipped book (src/ledger/prices/), without any PRICE_BOOK_FILE versions. */
export const PRICE_BOOK: PriceBook = GEMINI_PRICE_BOOK;

let activeBook: PriceBook = PRICE_BOOK;

/**
 * The book every pricing path uses unless handed one: the shipped book, or the shipped book
 * merged with PRICE_BOOK_FILE once the entry point has installed it (src/config/price-book-file.ts).
 */
export function activePriceBook(): PriceBook {
  return activeBook;
}

/** Installs the book of this process, once at start (tests restore PRICE_BOOK afterwards). */
export function usePriceBook(book: PriceBook): void {
  activeBook = book;
}

/** The rate that applies to a model at a moment, and the version that set it. */
export interface ResolvedPrice {
  model: string;
  price: ModelPrice;
  version: string;
}

/** The moment a version takes effect, in ms since the epoch (NaN when unparseable). */
export const effectiveAt = (table: Pick<PriceTable, "effectiveFrom">): number =>
  Date.parse(
    /^\d{4}-\d{2}-\d{2}$/.test(table.effectiveFrom)
      ? `${table.effectiveFrom}T00:00:00Z`
      : table.effectiveFrom,
  );

/** What resolving needs from a book, computed once per book: books are immutable data. */
interface BookIndex {
  names: ReadonlySet<string>;
  /** effectiveAt of each table, in book order. */
  effective: readonly number[];
  /** Model name as asked → its price entry's name (undefined: none). */
  canonical: Map<string, string | undefined>;
}

const bookIndexes = new WeakMap<PriceBook, BookIndex>();

function indexOf(book: PriceBook): BookIndex {
  let index = bookIndexes.get(book);
  if (!index) {
    index = {
      names: new Set(book.flatMap((table) => Object.keys(table.models))),
      effective: book.map(effectiveAt),
      canonical: new Map(),
    };
    bookIndexes.set(book, index);
  }
  return index;
}

/**
 * A model name's price entry: exact name first, then the longest known name it starts with,
 * so "gemini-2.5-flash-preview-09-2025" prices as gemini-2.5-flash while
 * "gemini-2.5-flash-lite" keeps its own rate. Memoized: every call of a run asks again.
 */
function canonicalName(index: BookIndex, model: string): string | undefined {
  if (index.canonical.has(model)) return index.canonical.get(model);
  const name = index.names.has(model)
    ? model
    : [...index.names]
        .filter((known) => model.startsWith(`${known}-`))
        .sort((a, b) => b.length - a.length)[0];
  // Bounded: a caller sending endless distinct unknown names should not grow this forever.
  if (index.canonical.size < 1000) index.canonical.set(model, name);
  return name;
}

/**
 * The newest version in force at `at` that lists the model. A call older than the model's
 * first listed price is priced by that first price: the book's history starts there.
 */
export function resolvePrice(
  model: string,
  at: Date,
  book: PriceBook = activePriceBook(),
): ResolvedPrice | undefined {
  const index = indexOf(book);
  const name = canonicalName(index, model);
  if (name === undefined) return undefined;
  const time = at.getTime();
  let earliest: number | undefined;
  let inForce: number | undefined;
  book.forEach((table, i) => {
    if (!table.models[name]) return;
    earliest ??= i;
    if ((index.effective[i] as number) <= time) inForce = i;
  });
  const chosen = inForce ?? earliest;
  if (chosen === undefined) return undefined;
  const table = book[chosen] as PriceTable;
  return { model: name, price: table.models[name] as ModelPrice, version: table.version };
}

/** Every model name the book prices, sorted; a name that starts with one of them plus "-" is priced too. */
export function knownModels(book: PriceBook = activePriceBook()): string[] {
  return [...indexOf(book).names].sort();
}

/**
 * `base` with `added` versions woven in by effectiveFrom: a call is priced by the newest
 * version in force that lists its model (resolvePrice), so an added version overrides only
 * the models it names, from its effectiveFrom until a later version lists them again. At
 * the same moment an added version sorts after a base one, so it wins. Version names must
 * be unique across both (checked by the caller that reads them).
 */
export function mergePriceBooks(base: PriceBook, added: PriceBook): PriceBook {
  const ordered = [
    ...base.map((table) => ({ table, rank: 0 })),
    ...added.map((table) => ({ table, rank: 1 })),
  ];
  // Array.prototype.sort is stable: same moment and source keep their order.
  ordered.sort((a, b) => effectiveAt(a.table) - effectiveAt(b.table) || a.rank - b.rank);
  return Object.freeze(ordered.map(({ table }) => table));
}

/** Problems that would make the book price wrongly; empty when it is sound (checked by tests). */
export function checkPriceBook(book: PriceBook): string[] {
  const problems: string[] = [];
  const versions = new Set<string>();
  let previous = Number.NEGATIVE_INFINITY;
  const rate = /^\d+(\.\d{1,6})?$/;
  for (const table of book) {
    const at = effectiveAt(table);
    if (Number.isNaN(at)) problems.push(`${table.version}: bad effectiveFrom ${table.effectiveFrom}`);
    if (at <= previous) problems.push(`${table.version}: effectiveFrom is not after the previous version`);
    previous = at;
    if (versions.has(table.version)) problems.push(`${table.version}: duplicate version`);
    versions.add(table.version);
    for (const [model, price] of Object.entries(table.models)) {
      const cards = [price.standard, price.longContext, price.batch, price.batchLongContext].filter(
        (card): card is RateCard => card !== undefined,
      );
      for (const card of cards) {
        for (const value of [card.input, card.output, card.cachedInput]) {
          if (!rate.test(value)) problems.push(`${table.version} ${model}: rate ${value} needs ≤ 6 decimals`);
        }
      }
      if ((price.longContext === undefined) !== (price.longContextThreshold === undefined)) {
        problems.push(`${table.version} ${model}: longContext and longContextThreshold go together`);
      }
      if (price.batchLongContext !== undefined && price.longContext === undefined) {
        problems.push(`${table.version} ${model}: batchLongContext needs longContext`);
      }
    }
  }
  return problems;
}
