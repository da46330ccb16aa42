import { type AnalysisEstimate, estimateAnalysis } from "../../analysis/estimate.js";
import { connectLlm } from "../../llm/create-llm.js";
import { defaultPriceProvider } from "../../market/index.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure } from "../cli-errors.js";
import { printJson } from "../render.js";

const usd = (value: number | null) => (value === null ? "unknown" : `$${value.toFixed(6)}`);

function renderEstimate(e: AnalysisEstimate): string {
  const lines = [
    `Estimate for ${e.ticker} (${e.model}); nothing was run`,
    `  ${"stage".padEnd(24)}${"input".padStart(9)}${"output".padStart(9)}${"thinking".padStart(10)}${"cost".padStart(12)}  basis`,
  ];
  for (const s of e.stages) {
    lines.push(
      `  ${s.callType.padEnd(24)}${String(s.inputTokens).padStart(9)}${String(s.outputTokens).padStart(9)}` +
        `${String(s.thinkingTokens).padStart(10)}${usd(s.costUsd).padStart(12)}  ${s.outputBasis}`,
    );
  }
  lines.push(
    `  ${"total".padEnd(24)}${String(e.totalTokens).padStart(28)} tokens${usd(e.costUsd).padStart(15)}`,
  );
  return lines.join("\n");
}

/** Snake case like every other --json output. */
const estimateJson = (e: AnalysisEstimate) => ({
  ticker: e.ticker,
  model: e.model,
  total_tokens: e.totalTokens,
  cost_usd: e.costUsd,
  stages: e.stages.map((s) => ({
    call_type: s.callType,
    input_tokens: s.inputTokens,
    output_tokens: s.outputTokens,
    thinking_tokens: s.thinkingTokens,
    output_basis: s.outputBasis,
    cost_usd: s.costUsd,
  })),
});

/** `analyze --estimate`: prompt tokens from countTokens, answers from history; writes nothing. */
export async function estimateCommand(
  ctx: CliContext,
  request: { tickers: string[]; model: string },
  json: boolean,
): Promise<void> {
  const llm = await connectLlm(ctx.config, ctx.logger);
  ctx.onClose(() => llm.close());
  const estimates: AnalysisEstimate[] = [];
  for (const ticker of request.tickers) {
    const estimate = await estimateAnalysis(
      { ticker, model: request.model },
      { llm: llm.client, prices: defaultPriceProvider(), sql: ctx.sql },
    );
    if (!estimate) throw new CliFailure(`no market data for ${ticker}`);
    estimates.push(estimate);
  }
  if (json) printJson({ estimates: estimates.map(estimateJson) });
  else process.stdout.write(`${estimates.map(renderEstimate).join("\n\n")}\n`);
}
