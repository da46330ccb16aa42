import type { RequestDigest } from "./request.js";
import { between, createRandom, intBetween, pick, pickSome, type Random } from "./seed.js";
import { stageParagraphs, type TextContext } from "./stage-texts.js";

/**
 * What the emulated model says. Everything is drawn from a PRNG seeded by the request text,
 * so a retried request gets the same answer (and the same token counts).
 */

export const DEFAULT_LAST_CLOSE = 100;
const LAST_CLOSE = /Last close: ([\d.]+)/;
const TICKER = /Ticker: ([A-Z0-9][A-Z0-9.&-]{0,19})/;

export type DecisionAction = "BUY" | "SELL" | "HOLD";

export interface Decision {
  action: DecisionAction;
  confidence: number;
  entry: number;
  target: number;
  stop_loss: number;
  rationale: string;
}

export function lastCloseOf(text: string): number {
  const value = Number(LAST_CLOSE.exec(text)?.[1]);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_LAST_CLOSE;
}

function tickerOf(text: string): string {
  return TICKER.exec(text)?.[1] ?? "the stock";
}

/** Enough decimals that a 1% move still shows, even for penny prices. */
function decimalsFor(close: number): number {
  return Math.max(2, Math.ceil(-Math.log10(close)) + 3);
}

/** Prices keep their order after rounding: BUY target > entry > stop, SELL the reverse. */
export function composeDecision(text: string, seed: number): Decision {
  const random = createRandom(seed);
  const close = lastCloseOf(text);
  const decimals = decimalsFor(close);
  const step = 10 ** -decimals;
  const round = (value: number): number => Number(value.toFixed(decimals));
  const roll = random();
  const action: DecisionAction = roll < 0.4 ? "BUY" : roll < 0.7 ? "SELL" : "HOLD";
  const entry = round(close);
  const reward = action === "HOLD" ? between(random, 0.02, 0.06) : between(random, 0.04, 0.15);
  const risk = between(random, 0.02, 0.07);
  let target: number;
  let stopLoss: number;
  if (action === "SELL") {
    target = Math.min(round(entry * (1 - reward)), round(entry - step));
    stopLoss = Math.max(round(entry * (1 + risk)), round(entry + step));
  } else {
    target = Math.max(round(entry * (1 + reward)), round(entry + step));
    stopLoss = Math.min(round(entry * (1 - risk)), round(entry - step));
  }
  const confidence = Number(between(random, 0.55, 0.9).toFixed(2));
  return {
    action,
    confidence,
    entry,
    target,
    stop_loss: stopLoss,
    rationale: decisionRationale(action, tickerOf(text), random),
  };
}

function decisionRationale(action: DecisionAction, ticker: string, random: Random): string {
  const momentum = pick(random, ["RSI holds above 50", "RSI is rolling over", "RSI is basing near 40"]);
  const macd = pick(random, [
    "MACD is above its signal line",
    "MACD histogram is shrinking",
    "MACD just crossed",
  ]);
  const volume = pick(random, ["volume confirms the move", "volume is light", "accumulation is visible"]);
  const verdict: Record<DecisionAction, string> = {
    BUY: `the five stage analyses lean constructive for ${ticker}; the reward-to-risk to target justifies a long entry`,
    SELL: `the stage analyses point to distribution in ${ticker}; a short with a tight stop offers the better asymmetry`,
    HOLD: `signals for ${ticker} conflict; waiting for a decisive close beyond the range is the prudent call`,
  };
  return `${momentum}, ${macd} and ${volume}: ${verdict[action]}.`;
}

/** The `bad_schema` fault: valid JSON that breaks the decision contract (action "MAYBE"). */
export function composeBadDecision(text: string, seed: number): string {
  const decision = composeDecision(text, seed);
  return JSON.stringify({ ...decision, action: "MAYBE" });
}

function composeStageText(stage: string | null, text: string, seed: number): string {
  const random = createRandom(seed);
  const context: TextContext = { ticker: tickerOf(text), close: lastCloseOf(text), random };
  const { title, paragraphs } = stageParagraphs(stage);
  // Between two and all paragraphs, so answer lengths (and candidate tokens) vary per request.
  const count = intBetween(random, 2, paragraphs.length);
  const body = pickSome(random, paragraphs, count).map((paragraph) => paragraph(context));
  return [`**${title} — ${context.ticker}**`, ...body].join("\n\n");
}

/**
 * The answer text for a request. final_decision is JSON; other stages are prose, wrapped in
 * JSON only if the caller asked for application/json (so a JSON parse never fails).
 */
export function composeAnswer(stage: string | null, digest: RequestDigest, seed: number): string {
  if (stage === "final_decision") return JSON.stringify(composeDecision(digest.text, seed));
  const prose = composeStageText(stage, digest.text, seed);
  return digest.wantsJson ? JSON.stringify({ stage, analysis: prose }) : prose;
}

/** A thought summary part, as Gemini sends when thinkingConfig.includeThoughts is true. */
export function composeThoughtSummary(stage: string | null, digest: RequestDigest, seed: number): string {
  const random = createRandom(seed ^ 0x2545f491);
  const ticker = tickerOf(digest.text);
  const focus = pick(random, ["momentum", "trend structure", "volume sponsorship", "key levels"]);
  return [
    `**Weighing ${focus} for ${ticker}**`,
    `I'm working through the ${(stage ?? "analysis").replaceAll("_", " ")} step: checking RSI against the MACD signal, ` +
      `then whether volume backs the latest move before anchoring on the last close of ` +
      `${lastCloseOf(digest.text)}.`,
  ].join("\n\n");
}
