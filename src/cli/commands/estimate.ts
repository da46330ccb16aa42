import { type AnalysisEstimate, estimateAnalysis } from "../../analysis/estimate.js";
import { connectLlm } from "../../llm/create-llm.js";
import { createPriceProvider } from "../../market/index.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure } from "../cli-errors.js";
import { printJson } from "../render.js";

const usd = (value: string | null) => (value === null ? "unknown" : `$${Number(value).toFixed(6)}`);
const n = (value: number) => value.toLocaleString("en-US");

function renderEstimate(e: AnalysisEstimate): string {
  const lines = [
    `Estimate for ${e.ticker} (${e.model}, ${e.marketDataSource}); nothing was run`,
    `  ${"stage".padEnd(24)}${"input".padStart(8)}${"images".padStart(8)}${"output".padStart(8)}${"p95".padStart(8)}${"thinking".padStart(10)}${"cost".padStart(11)}  basis`,
  ];
  for (const s of e.stages) {
    lines.push(
      `  ${s.callType.padEnd(24)}${n(s.inputTokens).padStart(8)}${n(s.imageTokens).padStart(8)}` +
        `${n(s.outputTokens).padStart(8)}${n(s.outputTokensP95).padStart(8)}${n(s.thinkingTokens).padStart(10)}` +
        `${usd(s.costUsd).padStart(11)}  ${s.outputBasis}`,
    );
  }
  lines.push(
    `  total: ${n(e.totalTokens)} tokens, ${usd(e.costUsd)} (p95 ${n(e.totalTokensP95)} tokens, ${usd(e.costUsdP95)})`,
  );
  if (e.serviceTier === "batch") {
    lines.push(`  at batch rates; the same run at standard rates: ${usd(e.standardCostUsd ?? null)}`);
  }
  return lines.join("\n");
}

/** Snake case like every other --json output; money as exact decimal strings. */
const estimateJson = (e: AnalysisEstimate) => ({
  ticker: e.ticker,
  model: e.model,
  service_tier: e.serviceTier,
  market_data_source: e.marketDataSource,
  total_tokens: e.totalTokens,
  total_tokens_p95: e.totalTokensP95,
  cost_usd: e.costUsd,
  cost_usd_p95: e.costUsdP95,
  ...(e.serviceTier === "batch" ? { standard_cost_usd: e.standardCostUsd ?? null } : {}),
  stages: e.stages.map((s) => ({
    call_type: s.callType,
    input_tokens: s.inputTokens,
    image_tokens: s.imageTokens,
    output_tokens: s.outputTokens,
    output_tokens_p95: s.outputTokensP95,
    thinking_tokens: s.thinkingTokens,
    output_basis: s.outputBasis,
    cost_usd: s.costUsd,
    cost_usd_p95: s.costUsdP95,
  })),
});

/** Estimates for each ticker from the inputs a run would send (see estimateAnalysis); writes nothing. */
export async function estimateTickers(
  ctx: CliContext,
  request: { tickers: string[]; model: string; batch?: boolean | undefined },
): Promise<AnalysisEstimate[]> {
  // Quiet: an estimate (or a refusal built on one) prints its answer, not the emulator's start.
  const llm = await connectLlm(ctx.config, ctx.logger.child({}, { level: "warn" }));
  ctx.onClose(() => llm.close());
  // The run's own price sources, in its order: imported, live (when enabled), samples.
  const prices = createPriceProvider({ sql: ctx.sql, logger: ctx.logger, market: ctx.config.market });
  const estimates: AnalysisEstimate[] = [];
  for (const ticker of request.tickers) {
    const estimate = await estimateAnalysis(
      { ticker, model: request.model, serviceTier: request.batch ? "batch" : "standard" },
      { llm: llm.client, prices, sql: ctx.sql, charts: ctx.config.charts },
    );
    if (!estimate) throw new CliFailure(`no market data for ${ticker}`);
    estimates.push(estimate);
  }
  return estimates;
}

/** `analyze --estimate`: prompt tokens from countTokens, answers from history; writes nothing. */
export async function estimateCommand(
  ctx: CliContext,
  request: { tickers: string[]; model: string; batch?: boolean | undefined },
  json: boolean,
): Promise<void> {
  const estimates = await estimateTickers(ctx, request);
  if (json) printJson({ estimates: estimates.map(estimateJson) });
  else process.stdout.write(`${estimates.map(renderEstimate).join("\n\n")}\n`);
}
