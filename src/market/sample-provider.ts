import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { projectRoot } from "../paths.js";
import { PriceFileError, parsePriceCsv } from "./csv.js";
import type { PriceProvider, PriceSeries } from "./types.js";

/** data/samples at the project root; found from the module file, so it works from src/ and dist/. */
export const SAMPLES_DIR = path.join(projectRoot, "data", "samples");

const manifestSchema = z.object({
  tickers: z.array(
    z.object({
      ticker: z.string().min(1),
      file: z.string().min(1),
      currency: z.string().min(1),
      source: z.object({
        kind: z.enum(["sample-real", "sample-synthetic", "csv"]),
        label: z.string().min(1),
      }),
    }),
  ),
});

type ManifestEntry = z.infer<typeof manifestSchema>["tickers"][number];

// Exchange suffixes (Yahoo style) that map onto the bare NSE/BSE sample ticker: TCS.NS → TCS.
const EXCHANGE_SUFFIXES = [".NS", ".BO"];

/**
 * Serves the price files shipped in data/samples (see manifest.json). Each file is parsed
 * once and kept in memory; callers get their own copy of the bars.
 */
export class SamplePriceProvider implements PriceProvider {
  readonly directory: string;
  private manifest: Promise<Map<string, ManifestEntry>> | null = null;
  private readonly series = new Map<string, Promise<PriceSeries>>();

  constructor(opts: { directory?: string } = {}) {
    this.directory = opts.directory ?? SAMPLES_DIR;
  }

  /** The tickers with sample data, as listed in the manifest. */
  async tickers(): Promise<string[]> {
    return [...(await this.entries()).keys()];
  }

  /** The sample tickers priced in `currency`: the INR ones are the NSE listings. */
  async tickersIn(currency: string): Promise<string[]> {
    const entries = [...(await this.entries()).values()];
    return entries.filter((entry) => entry.currency === currency).map((entry) => entry.ticker.toUpperCase());
  }

  async load(ticker: string): Promise<PriceSeries | null> {
    const requested = ticker.trim().toUpperCase();
    const entry = await this.entryFor(requested);
    if (entry === undefined) return null;

    let parsed = this.series.get(entry.ticker);
    if (parsed === undefined) {
      parsed = this.parse(entry);
      this.series.set(entry.ticker, parsed);
      // A failed parse is not cached, so a fixed file is picked up on the next call.
      parsed.catch(() => this.series.delete(entry.ticker));
    }
    const series = await parsed;
    return {
      ...series,
      ticker: requested,
      source: { ...series.source },
      bars: series.bars.map((bar) => ({ ...bar })),
    };
  }

  private async entryFor(ticker: string): Promise<ManifestEntry | undefined> {
    const entries = await this.entries();
    const exact = entries.get(ticker);
    if (exact !== undefined) return exact;
    const suffix = EXCHANGE_SUFFIXES.find((candidate) => ticker.endsWith(candidate));
    return suffix === undefined ? undefined : entries.get(ticker.slice(0, -suffix.length));
  }

  private entries(): Promise<Map<string, ManifestEntry>> {
    // A failed read is not cached either: the next call tries again.
    this.manifest ??= this.readManifest().catch((error: unknown) => {
      this.manifest = null;
      throw error;
    });
    return this.manifest;
  }

  private async readManifest(): Promise<Map<string, ManifestEntry>> {
    const file = path.join(this.directory, "manifest.json");
    const parsed = manifestSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
    if (!parsed.success) throw new Error(`${file} is not a valid sample manifest: ${parsed.error.message}`);
    return new Map(parsed.data.tickers.map((entry) => [entry.ticker.toUpperCase(), entry]));
  }

  private async parse(entry: ManifestEntry): Promise<PriceSeries> {
    const file = path.join(this.directory, entry.file);
    const text = await readFile(file, "utf8");
    let bars: PriceSeries["bars"] | undefined;
    try {
      bars = parsePriceCsv(text, { ticker: entry.ticker }).get(entry.ticker.toUpperCase());
    } catch (error) {
      if (error instanceof PriceFileError) throw new PriceFileError(error.detail, { line: error.line, file });
      throw error;
    }
    if (bars === undefined) throw new PriceFileError(`no rows for ${entry.ticker}`, { file });
    return { ticker: entry.ticker, currency: entry.currency, source: entry.source, bars };
  }
}
