import { estimateAnalysis, estimateExceedsCaps } from "../analysis/estimate.js";
import { connectLlm, type LlmConnection } from "../llm/create-llm.js";
import { createPriceProvider } from "../market/index.js";
import type { ApiDeps } from "./api-deps.js";
import { ApiError } from "./errors.js";

/**
 * POST /analyses' up-front refusal, as `analyze` does it: an analysis whose estimate is above
 * its cap is refused (400) unless `allow_partial`. The LLM connection (countTokens) is opened on
 * the first capped request and kept until the server closes.
 */
export class CapCheck {
  #llm: Promise<LlmConnection> | undefined;

  constructor(private readonly deps: ApiDeps) {}

  async refuseWhatCannotFit(request: {
    tickers: string[];
    model: string;
    maxTokens?: number | undefined;
    maxCostUsd?: string | undefined;
    batch?: boolean | undefined;
  }): Promise<void> {
    const { config, sql, logger } = this.deps;
    this.#llm ??= connectLlm(config, logger.child({}, { level: "warn" }));
    const llm = await this.#llm;
    const prices = createPriceProvider({ sql, logger, market: config.market });
    for (const ticker of request.tickers) {
      const estimate = await estimateAnalysis(
        { ticker, model: request.model, serviceTier: request.batch ? "batch" : "standard" },
        { llm: llm.client, prices, sql, charts: config.charts },
      );
      if (!estimate) continue; // the run reports "no market data" itself
      const refusal = estimateExceedsCaps(estimate, request, {
        maxTokens: "max_tokens",
        maxCost: "max_cost_usd",
        allowPartial: "allow_partial",
      });
      if (refusal) throw new ApiError(400, "bad_request", refusal);
    }
  }

  async close(): Promise<void> {
    const llm = await this.#llm?.catch(() => undefined);
    await llm?.close();
  }
}
