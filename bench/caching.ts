/**
 * The prompt-layout and caching trade-off, measured against the emulator with the real SDK through the product's
 * adapter: tokens, cached share and cost per analysis, and the critical path, for
 *   A. the previous prompt layout (market brief + stage instruction, no shared guide),
 *   B. the shared-prefix layout with implicit caching only (the five parallel stages miss,
 *      final_decision hits the prefix the stages left behind),
 *   C. the shared-prefix layout with an explicit context cache (--context-cache).
 * `npx tsx bench/caching.ts [--latency 300] [--create-latency 150] [--runs 5]`.
 */
import { finalDecisionPromptParts, SYSTEM_INSTRUCTION, stagePromptParts } from "../src/analysis/prompts.js";
import { ANALYSIS_STAGES, FINAL_DECISION_STAGE } from "../src/analysis/stages.js";
import { priceCacheStorage } from "../src/ledger/cache-storage-prices.js";
import { formatUsd } from "../src/ledger/money.js";
import { priceCall } from "../src/ledger/pricing.js";
import { usageFromMetadata } from "../src/ledger/usage.js";
import { startEmulator } from "../src/llm/emulator/index.js";
import { type ContextCache, GeminiClient } from "../src/llm/gemini-client.js";
import { computeIndicators, defaultPriceProvider, formatMarketBrief } from "../src/market/index.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const LATENCY = arg("--latency", 300);
const RUNS = arg("--runs", 5);
// Creating a cache is a round trip of its own (no output to generate, so shorter than a call).
const CREATE_LATENCY = arg("--create-latency", Math.round(LATENCY / 2));
const MODEL = "gemini-2.5-flash";
const TICKERS = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "AAPL"];

type Layout = "previous" | "shared-prefix" | "context-cache";

interface Sample {
  stageInput: number;
  stageCached: number;
  totalTokens: number;
  costPico: bigint;
  wallMs: number;
}

async function runOnce(client: GeminiClient, layout: Layout, ticker: string, id: string): Promise<Sample> {
  const series = await defaultPriceProvider().load(ticker);
  if (!series) throw new Error(ticker);
  const brief = formatMarketBrief(series, computeIndicators(series.bars));
  const started = performance.now();
  let costPico = 0n;
  let totalTokens = 0;
  let stageInput = 0;
  let stageCached = 0;
  let cache: ContextCache | null = null;
  let cacheTokens = 0;
  const cacheStart = Date.now();
  const parts = ANALYSIS_STAGES.map((stage) => stagePromptParts(brief, stage));
  if (layout === "context-cache") {
    cache = await client.createContextCache({
      model: MODEL,
      systemInstruction: SYSTEM_INSTRUCTION,
      prefix: parts[0]?.prefix ?? "",
      ttlSeconds: 600,
      analysisId: id,
    });
    cacheTokens = Number(cache.usageMetadata?.totalTokenCount ?? 0);
    costPico += BigInt(cacheTokens) * 300_000n; // creation at the 2.5-flash input rate ($0.30/1M)
    totalTokens += cacheTokens;
  }
  // The previous layout had no shared guide: the market brief, then the stage's instruction.
  const promptOf = (p: { prefix: string; suffix: string }) =>
    layout === "previous" ? `${brief}${p.suffix}` : `${p.prefix}${p.suffix}`;
  const call = async (p: { prefix: string; suffix: string }, callType: string, json: boolean) => {
    const result = await client.generate({
      model: MODEL,
      systemInstruction: SYSTEM_INSTRUCTION,
      prompt: promptOf(p),
      json,
      analysisId: id,
      callType,
      attempt: 1,
      content: layout === "previous" ? undefined : { prefix: p.prefix, images: [], suffix: p.suffix },
      contextCache: cache ?? undefined,
    });
    const usage = usageFromMetadata(result.usageMetadata ?? {});
    costPico += priceCall(MODEL, usage).costPico ?? 0n;
    totalTokens += usage.totalTokens;
    return { text: result.text, usage };
  };
  const answers = await Promise.all(
    ANALYSIS_STAGES.map((stage, i) => call(parts[i] ?? { prefix: "", suffix: "" }, stage.callType, false)),
  );
  for (const a of answers) {
    stageInput += a.usage.inputTokens;
    stageCached += a.usage.cachedInputTokens;
  }
  const results = ANALYSIS_STAGES.map((stage, i) => ({
    callType: stage.callType,
    text: answers[i]?.text ?? null,
  }));
  await call(finalDecisionPromptParts(brief, FINAL_DECISION_STAGE, results), "final_decision", true);
  const wallMs = performance.now() - started;
  if (cache) {
    await client.deleteContextCache(cache);
    costPico += priceCacheStorage(MODEL, cacheTokens, Date.now() - cacheStart) ?? 0n;
  }
  return { stageInput, stageCached, totalTokens, costPico, wallMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const emulator = await startEmulator({ latencyMs: LATENCY, cacheCreateLatencyMs: CREATE_LATENCY });
const client = new GeminiClient({ apiKey: "bench", baseUrl: emulator.url, timeoutMs: 30_000 });
const rows: string[] = [];
const costs: Record<string, number> = {};
for (const layout of ["previous", "shared-prefix", "context-cache"] as Layout[]) {
  const samples: Sample[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const ticker of TICKERS)
      samples.push(await runOnce(client, layout, ticker, `bench-${layout}-${r}-${ticker}`));
  }
  const cost = samples.reduce((s, x) => s + x.costPico, 0n) / BigInt(samples.length);
  costs[layout] = Number(cost);
  const cachedShare =
    samples.reduce((s, x) => s + x.stageCached, 0) / samples.reduce((s, x) => s + x.stageInput, 0);
  rows.push(
    `| ${layout} | ${Math.round(samples.reduce((s, x) => s + x.totalTokens, 0) / samples.length)} | ` +
      `${(cachedShare * 100).toFixed(1)}% | ${formatUsd(cost)} | ${Math.round(median(samples.map((s) => s.wallMs)))} ms |`,
  );
}
await emulator.close();
const previous = costs.previous ?? 1;
console.log(
  `Emulator latency L = ${LATENCY} ms (cache creation ${CREATE_LATENCY} ms), ${RUNS} runs × ${TICKERS.length} tickers, ${MODEL}\n`,
);
console.log("| layout | tokens / analysis | five stages' input cached | cost / analysis | wall (median) |");
console.log("|---|---|---|---|---|");
for (const row of rows) console.log(row);
console.log(
  `\ncost vs previous layout: shared-prefix ${(((costs["shared-prefix"] ?? 0) / previous) * 100).toFixed(1)}%, ` +
    `context-cache ${(((costs["context-cache"] ?? 0) / previous) * 100).toFixed(1)}%`,
);
