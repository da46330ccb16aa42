import type YahooFinance from "yahoo-finance2";
import type { Logger } from "../../logger.js";
import { LivePriceError, parseRetryAfter } from "./live-errors.js";

/** One row of chart()'s quotes: Yahoo leaves fields null on days it has no trade data. */
export interface ChartQuote {
  date: Date;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  volume: number | null;
}

/** The parts of a chart() answer the provider uses. */
export interface ChartResponse {
  symbol: string;
  currency: string | null;
  /** The exchange's offset from UTC in seconds (IST is 19800): daily bars are stamped at the open. */
  gmtOffsetSeconds: number;
  quotes: ChartQuote[];
}

/** The seam tests use: the real client with a recorded `fetch`, or any stand-in. */
export interface ChartClient {
  dailyBars(
    symbol: string,
    range: { from: Date; to: Date },
    opts: { timeoutMs: number },
  ): Promise<ChartResponse>;
}

type YahooFinanceClient = InstanceType<typeof YahooFinance>;

/**
 * yahoo-finance2 3.15's chart() (historical() is retired upstream) behind ChartClient. HTTP
 * failures are turned into LivePriceError by a fetch wrapper before the library sees them, so
 * a 429's Retry-After survives and callers branch on `kind`, never on message text.
 */
export class YahooChartClient implements ChartClient {
  private readonly baseFetch: typeof fetch;
  private readonly logger: Logger;
  private client: Promise<YahooFinanceClient> | null = null;

  /** `fetch` defaults to the global one; tests pass one that replays recorded responses. */
  constructor(opts: { logger: Logger; fetch?: typeof fetch }) {
    this.logger = opts.logger;
    this.baseFetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async dailyBars(
    symbol: string,
    range: { from: Date; to: Date },
    opts: { timeoutMs: number },
  ): Promise<ChartResponse> {
    const yahoo = await this.yahoo();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
    try {
      const result = await yahoo.chart(
        symbol,
        { period1: range.from, period2: range.to, interval: "1d" },
        { fetchOptions: { signal: controller.signal } },
      );
      return {
        symbol: result.meta.symbol,
        currency: result.meta.currency || null,
        gmtOffsetSeconds: result.meta.gmtoffset,
        quotes: result.quotes,
      };
    } catch (error) {
      if (error instanceof LivePriceError) throw error;
      if (controller.signal.aborted) {
        throw new LivePriceError("timeout", `no answer from Yahoo Finance within ${opts.timeoutMs} ms`, {
          cause: error,
        });
      }
      const detail = error instanceof Error ? error.message : String(error);
      throw new LivePriceError("invalid_response", `Yahoo Finance chart(${symbol}) failed: ${detail}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Loaded on first use, so the sample-only path never pays for importing the library. */
  private yahoo(): Promise<YahooFinanceClient> {
    this.client ??= import("yahoo-finance2").then(
      ({ default: YahooFinanceClass }) =>
        new YahooFinanceClass({
          fetch: this.checkedFetch,
          versionCheck: false, // it would call the npm registry on every validation error
          suppressNotices: ["yahooSurvey"],
          validation: { logErrors: false, logOptionsErrors: false },
          logger: {
            info: (...args: unknown[]) => this.logger.debug({ yahoo: args }, "yahoo-finance2"),
            debug: (...args: unknown[]) => this.logger.debug({ yahoo: args }, "yahoo-finance2"),
            dir: (...args: unknown[]) => this.logger.debug({ yahoo: args }, "yahoo-finance2"),
            warn: (...args: unknown[]) => this.logger.warn({ yahoo: args }, "yahoo-finance2 warning"),
            error: (...args: unknown[]) => this.logger.error({ yahoo: args }, "yahoo-finance2 error"),
          },
        }),
    );
    return this.client;
  }

  private readonly checkedFetch: typeof fetch = async (input, init) => {
    const response = await this.baseFetch(input, init);
    if (response.ok) return response;
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    if (status === 429) {
      throw new LivePriceError("rate_limited", "Yahoo Finance answered 429 Too Many Requests", {
        status,
        retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
      });
    }
    if (status === 404) throw new LivePriceError("not_found", "Yahoo Finance has no such symbol", { status });
    throw new LivePriceError("unavailable", `Yahoo Finance answered HTTP ${status}`, { status });
  };
}
