import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadConfig, UsageError } from "../../src/config/config.js";
import {
  installPriceBook,
  loadPriceBook,
  PriceBookFileError,
  parsePriceBookFile,
} from "../../src/config/price-book-file.js";
import { picoToUsd } from "../../src/ledger/money.js";
import { activePriceBook, knownModels, PRICE_BOOK, usePriceBook } from "../../src/ledger/price-table.js";
import { assertPricedModel, isKnownModel, priceCall, UnpricedModelError } from "../../src/ledger/pricing.js";
import { usageFromMetadata } from "../../src/ledger/usage.js";

const dir = mkdtempSync(path.join(tmpdir(), "price-book-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => usePriceBook(PRICE_BOOK));

function writeBook(name: string, content: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return file;
}

// As a user would write it: a discount on gemini-2.5-flash from December, a model the shipped
// book lacks (rates as JSON numbers), and a later discount listed first (order in the file is free).
const ACME = {
  versions: [
    {
      version: "acme-2027-03",
      effectiveFrom: "2027-03-01T00:00:00Z",
      models: { "gemini-2.5-flash": { input: "0.25", output: "2.00", cachedInput: "0.025" } },
    },
    {
      version: "acme-2026-12",
      effectiveFrom: "2026-12-01",
      models: {
        "gemini-2.5-flash": { input: "0.27", output: "2.25", cachedInput: "0.027" },
        "gemini-3.5-flash": { input: 0.4, output: 3.2, cachedInput: 0.04 },
      },
    },
  ],
};

// 10,000 prompt (2,000 cached), 1,000 candidates + 1,000 thoughts.
const u = usageFromMetadata({
  promptTokenCount: 10_000,
  cachedContentTokenCount: 2000,
  candidatesTokenCount: 1000,
  thoughtsTokenCount: 1000,
});
const usd = (cost: { costPico: bigint | null }) => (cost.costPico === null ? null : picoToUsd(cost.costPico));

describe("PRICE_BOOK_FILE merged with the shipped book", () => {
  it("prices a model the file overrides at the file's rate from its effectiveFrom on, the built-in before", () => {
    const book = loadPriceBook(writeBook("acme.json", ACME));
    // Built-in: 8,000 × 0.30 + 2,000 × 0.03 + 2,000 × 2.50 = 2,400 + 60 + 5,000 = 7,460 → 0.00746
    const before = priceCall("gemini-2.5-flash", u, new Date("2026-11-30T23:59:59.999Z"), book);
    expect(before).toMatchObject({ priceVersion: "gemini-2025-12", priceTier: "standard" });
    expect(usd(before)).toBe("0.00746");
    // File: 8,000 × 0.27 + 2,000 × 0.027 + 2,000 × 2.25 = 2,160 + 54 + 4,500 = 6,714 → 0.006714
    const on = priceCall("gemini-2.5-flash", u, new Date("2026-12-01T00:00:00Z"), book);
    expect(on).toMatchObject({ priceVersion: "acme-2026-12", priceTier: "standard" });
    expect(usd(on)).toBe("0.006714");
    // Dated variants follow their model: priced by the file too.
    const variant = priceCall("gemini-2.5-flash-preview-09-2025", u, new Date("2026-12-02T00:00:00Z"), book);
    expect(variant.priceVersion).toBe("acme-2026-12");
    // The later file version: 8,000 × 0.25 + 2,000 × 0.025 + 2,000 × 2 = 2,000 + 50 + 4,000 → 0.00605
    const later = priceCall("gemini-2.5-flash", u, new Date("2027-03-01T00:00:00Z"), book);
    expect(later).toMatchObject({ priceVersion: "acme-2027-03" });
    expect(usd(later)).toBe("0.00605");
  });

  it("leaves models the file does not name at the built-in rate, long-context tier included", () => {
    const book = loadPriceBook(writeBook("acme.json", ACME));
    // 8,000 × 1.25 + 2,000 × 0.125 + 2,000 × 10 = 10,000 + 250 + 20,000 = 30,250 → 0.03025
    const pro = priceCall("gemini-2.5-pro", u, new Date("2026-12-05T00:00:00Z"), book);
    expect(pro).toMatchObject({ priceVersion: "gemini-2025-12", priceTier: "standard" });
    expect(usd(pro)).toBe("0.03025");
    const lite = priceCall("gemini-2.5-flash-lite", u, new Date("2027-04-01T00:00:00Z"), book);
    expect(lite.priceVersion).toBe("gemini-2025-12");
  });

  it("prices a model only the file knows, with number rates kept exact", () => {
    const book = loadPriceBook(writeBook("acme.json", ACME));
    // 8,000 × 0.4 + 2,000 × 0.04 + 2,000 × 3.2 = 3,200 + 80 + 6,400 = 9,680 → 0.00968
    const cost = priceCall("gemini-3.5-flash", u, new Date("2026-12-03T00:00:00Z"), book);
    expect(cost).toMatchObject({ priceVersion: "acme-2026-12" });
    expect(usd(cost)).toBe("0.00968");
    const table = book.find((t) => t.version === "acme-2026-12");
    expect(table?.models["gemini-3.5-flash"]?.standard).toEqual({
      input: "0.4",
      output: "3.2",
      cachedInput: "0.04",
    });
    expect(knownModels(book)).toContain("gemini-3.5-flash");
    expect(knownModels(PRICE_BOOK)).not.toContain("gemini-3.5-flash");
  });

  it("keeps the books in effectiveFrom order, a file version after a built-in one of the same moment", () => {
    const book = loadPriceBook(
      writeBook("same-moment.json", {
        versions: [
          {
            version: "acme-from-start",
            effectiveFrom: "2025-12-01",
            models: { "gemini-2.5-flash": { input: "0.2", output: "2", cachedInput: "0.02" } },
          },
        ],
      }),
    );
    expect(book.map((t) => t.version)).toEqual(["gemini-2025-12", "acme-from-start"]);
    expect(priceCall("gemini-2.5-flash", u, new Date("2025-12-01T00:00:00Z"), book).priceVersion).toBe(
      "acme-from-start",
    );
    expect(loadPriceBook(writeBook("acme.json", ACME)).map((t) => t.version)).toEqual([
      "gemini-2025-12",
      "acme-2026-12",
      "acme-2027-03",
    ]);
  });

  it("is the book of every default pricing path once installed, and the shipped one without a file", () => {
    const file = writeBook("acme.json", ACME);
    const at = new Date("2026-12-05T00:00:00Z");
    expect(installPriceBook({ priceBookFile: undefined })).toBe(PRICE_BOOK);
    expect(priceCall("gemini-2.5-flash", u, at).priceVersion).toBe("gemini-2025-12");
    const book = installPriceBook(loadConfig({ PRICE_BOOK_FILE: file }));
    expect(activePriceBook()).toBe(book);
    expect(priceCall("gemini-2.5-flash", u, at).priceVersion).toBe("acme-2026-12");
    expect(isKnownModel("gemini-3.5-flash-001")).toBe(true);
    expect(() => assertPricedModel("gemini-3.5-flash")).not.toThrow();
  });

  it("reads long-context rates and thresholds from the file", () => {
    const book = loadPriceBook(
      writeBook("pro.json", {
        versions: [
          {
            version: "acme-pro",
            effectiveFrom: "2026-12-01",
            models: {
              "gemini-2.5-pro": {
                input: "1.10",
                output: "9",
                cachedInput: "0.11",
                longContext: { input: "2.20", output: "13.50", cachedInput: "0.22" },
                longContextThreshold: 5000,
              },
            },
          },
        ],
      }),
    );
    // Above 5,000 prompt tokens: 8,000 × 2.20 + 2,000 × 0.22 + 2,000 × 13.50 = 17,600 + 440 + 27,000 → 0.04504
    const cost = priceCall("gemini-2.5-pro", u, new Date("2026-12-02T00:00:00Z"), book);
    expect(cost).toMatchObject({ priceVersion: "acme-pro", priceTier: "long_context" });
    expect(usd(cost)).toBe("0.04504");
  });
});

describe("a bad PRICE_BOOK_FILE", () => {
  const flash = { input: "0.27", output: "2.25", cachedInput: "0.027" };
  const one = (models: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      versions: [{ version: "acme-2026-12", effectiveFrom: "2026-12-01", models, ...extra }],
    });
  const bad = (text: string) => {
    try {
      parsePriceBookFile(text, "prices.json");
    } catch (error) {
      expect(error).toBeInstanceOf(PriceBookFileError);
      expect(error).toBeInstanceOf(UsageError); // the CLI's exit 2, the API's 400
      const message = (error as Error).message;
      expect(message).not.toContain("\n");
      return message;
    }
    throw new Error("accepted a bad price book");
  };

  it.each([
    [
      "a rate that is not a decimal",
      one({ "gemini-2.5-flash": { ...flash, input: "27 cents" } }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash.input: expected a decimal string of USD per 1M tokens",
    ],
    [
      "a missing rate",
      one({ "gemini-2.5-flash": { input: "0.27", output: "2.25" } }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash.cachedInput: missing: expected a decimal string of USD per 1M tokens",
    ],
    [
      "a negative rate",
      one({ "gemini-2.5-flash": { ...flash, output: -2.25 } }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash.output: -2.25 is negative: rates are 0 or more",
    ],
    [
      "a rate finer than a picodollar per token",
      one({ "gemini-2.5-flash": { ...flash, cachedInput: "0.0271234" } }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash.cachedInput: 0.0271234 has more than 6 decimals (a token must cost whole picodollars)",
    ],
    [
      "a rate out of all proportion",
      one({ "gemini-2.5-flash": { ...flash, input: "1000000000" } }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash.input: 1000000000 has more than 9 digits before the point",
    ],
    [
      "a number a double could not hold with 6 decimals",
      one({ "gemini-2.5-flash": { ...flash, input: 0.1 + 0.2 } }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash.input: 0.30000000000000004 has more than 6 decimals (a token must cost whole picodollars)",
    ],
    [
      "a misspelt key",
      one({ "gemini-2.5-flash": { ...flash, cachedinput: "0.027" } }),
      'PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash: Unrecognized key: "cachedinput"',
    ],
    [
      "a long-context rate without its threshold",
      one({ "gemini-2.5-flash": { ...flash, longContext: flash } }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-flash: longContext and longContextThreshold go together",
    ],
    [
      "an override dropping the built-in long-context tier",
      one({ "gemini-2.5-pro": flash }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.gemini-2.5-pro: the built-in price has long-context rates above 200000 prompt tokens; give longContext and longContextThreshold too",
    ],
    [
      "a bad model name",
      one({ "Gemini 2.5 Flash": flash }),
      "PRICE_BOOK_FILE prices.json: versions[0].models.Gemini 2.5 Flash: expected a model name such as gemini-2.5-flash",
    ],
    ["a version without models", one({}), "PRICE_BOOK_FILE prices.json: versions[0].models: lists no model"],
    [
      "an impossible date",
      one({ "gemini-2.5-flash": flash }, { effectiveFrom: "2026-02-30" }),
      "PRICE_BOOK_FILE prices.json: versions[0].effectiveFrom: expected a UTC date such as 2026-12-01 or a timestamp with a zone",
    ],
    [
      "a timestamp without a zone",
      one({ "gemini-2.5-flash": flash }, { effectiveFrom: "2026-12-01T09:00" }),
      "PRICE_BOOK_FILE prices.json: versions[0].effectiveFrom: expected a UTC date such as 2026-12-01 or a timestamp with a zone",
    ],
    [
      "a version named like a built-in one",
      one({ "gemini-2.5-flash": flash }, { version: "gemini-2025-12" }),
      "PRICE_BOOK_FILE prices.json: versions[0].version: gemini-2025-12 is a built-in price version; pick another name",
    ],
    [
      "two versions of one name",
      JSON.stringify({
        versions: [
          { version: "acme", effectiveFrom: "2026-12-01", models: { "gemini-2.5-flash": flash } },
          { version: "acme", effectiveFrom: "2027-01-01", models: { "gemini-2.5-flash": flash } },
        ],
      }),
      "PRICE_BOOK_FILE prices.json: versions[1].version: acme is already the name of versions[0]",
    ],
    [
      "two versions of one moment",
      JSON.stringify({
        versions: [
          { version: "acme-a", effectiveFrom: "2026-12-01", models: { "gemini-2.5-flash": flash } },
          { version: "acme-b", effectiveFrom: "2026-12-01T00:00:00Z", models: { "gemini-2.5-flash": flash } },
        ],
      }),
      "PRICE_BOOK_FILE prices.json: versions[1].effectiveFrom: 2026-12-01T00:00:00Z is when versions[0] takes effect too; give each version its own moment",
    ],
    [
      "a single version without the list around it",
      JSON.stringify({ version: "acme", effectiveFrom: "2026-12-01", models: { "gemini-2.5-flash": flash } }),
      'PRICE_BOOK_FILE prices.json: versions: expected a list of price versions: {"versions": [...]}',
    ],
    [
      "no versions",
      JSON.stringify({ versions: [] }),
      "PRICE_BOOK_FILE prices.json: versions: lists no version",
    ],
  ])("%s", (_kind, text, message) => {
    expect(bad(text)).toBe(message);
  });

  it("that is not JSON", () => {
    expect(bad('{"versions": [}')).toMatch(/^PRICE_BOOK_FILE prices\.json: not valid JSON: .+/);
  });

  it("that does not exist or is a directory", () => {
    const missing = path.join(dir, "nope.json");
    expect(() => loadPriceBook(missing)).toThrow(
      new PriceBookFileError(`PRICE_BOOK_FILE ${missing}: no such file`),
    );
    expect(() => loadPriceBook(dir)).toThrow(
      new PriceBookFileError(`PRICE_BOOK_FILE ${dir}: is a directory, not a JSON file`),
    );
  });

  it("is a config error only when the variable is blank of a path; the file is read at install", () => {
    expect(loadConfig({ PRICE_BOOK_FILE: " prices.json " }).priceBookFile).toBe("prices.json");
    expect(loadConfig({}).priceBookFile).toBeUndefined();
    expect(() => loadConfig({ PRICE_BOOK_FILE: "   " })).toThrow(
      new UsageError("invalid PRICE_BOOK_FILE: must be a path to a JSON price book"),
    );
    expect(() => installPriceBook({ priceBookFile: path.join(dir, "nope.json") })).toThrow(
      PriceBookFileError,
    );
    expect(activePriceBook()).toBe(PRICE_BOOK);
  });
});

describe("assertPricedModel", () => {
  it("refuses a model with no price, naming the known ones and the caller's flag", () => {
    const known = knownModels().join(", ");
    expect(known).toMatch(/^gemini-2\.0-flash, gemini-2\.0-flash-lite, gemini-2\.5-flash, /);
    expect(() => assertPricedModel("gpt-4")).toThrow(
      new UnpricedModelError(
        `unknown model gpt-4: no price known (known: ${known}); pass --allow-unpriced to run it unpriced`,
      ),
    );
    expect(() => assertPricedModel("gpt-4", { flag: '"allow_unpriced": true' })).toThrow(
      `pass "allow_unpriced": true to run it unpriced`,
    );
    expect(() => assertPricedModel("gpt-4")).toThrow(UsageError);
    // A name that only shares letters with a known one is not a variant of it.
    expect(() => assertPricedModel("gemini-2.5-flashy")).toThrow(UnpricedModelError);
  });

  it("lets an unpriced model through when the caller allows it, saying it is unpriced", () => {
    expect(assertPricedModel("gpt-4", { allowUnpriced: true })).toBe(false);
  });

  it("accepts known models and their dated variants", () => {
    for (const model of ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-preview-09-2025"]) {
      expect(assertPricedModel(model)).toBe(true);
    }
  });

  it("knows the models a price book file adds", () => {
    const book = loadPriceBook(writeBook("acme.json", ACME));
    expect(() => assertPricedModel("gemini-3.5-flash")).toThrow(UnpricedModelError);
    expect(assertPricedModel("gemini-3.5-flash-lite", { book })).toBe(true);
  });
});
