import type { Stage } from "./protocol.js";
import { between, intBetween, pick, type Random } from "./seed.js";

/**
 * Paragraph builders for the five plain-text stages. Each draws its numbers from the
 * request's PRNG, so answers read like analyses yet stay reproducible.
 */

export interface TextContext {
  ticker: string;
  close: number;
  random: Random;
}

type Paragraph = (context: TextContext) => string;

const price = (value: number): string => value.toFixed(2);
const pct = (random: Random, low: number, high: number): string => between(random, low, high).toFixed(1);
const level = (c: TextContext, low: number, high: number): string =>
  price(c.close * between(c.random, low, high));

const INDICATOR_SUMMARY: Paragraph[] = [
  (c) =>
    `RSI(14) for ${c.ticker} sits at ${intBetween(c.random, 28, 74)}, ${pick(c.random, ["neither overbought nor oversold", "drifting toward the upper half of its range", "recovering from a recent trough"])}. The 14-day reading has ${pick(c.random, ["flattened", "turned higher", "rolled over"])} over the last five sessions, so momentum is ${pick(c.random, ["stabilising", "improving", "fading"])} rather than accelerating.`,
  (c) =>
    `MACD (12, 26, 9) is ${pick(c.random, ["above", "below"])} its signal line with a histogram of ${between(c.random, -2.5, 2.5).toFixed(2)}. The last crossover came ${intBetween(c.random, 3, 18)} sessions ago and the histogram ${pick(c.random, ["is widening", "is contracting", "has been flat"])}, which ${pick(c.random, ["supports the current trend", "argues for patience", "hints at a pause"])}.`,
  (c) =>
    `Price closed at ${price(c.close)}, ${pct(c.random, 0.5, 6)}% ${pick(c.random, ["above", "below"])} the 50-day SMA and ${pct(c.random, 1, 12)}% ${pick(c.random, ["above", "below"])} the 200-day SMA. The 20-day EMA is ${pick(c.random, ["rising", "flat", "declining"])}, acting as ${pick(c.random, ["dynamic support", "a ceiling", "a pivot"])}.`,
  (c) =>
    `Bollinger Bands (20, 2) have ${pick(c.random, ["narrowed", "widened", "held steady"])} to a bandwidth of ${pct(c.random, 3, 14)}%; price trades in the ${pick(c.random, ["upper", "middle", "lower"])} third of the band. ATR(14) of ${price(c.close * between(c.random, 0.008, 0.035))} puts daily noise near ${pct(c.random, 0.8, 3.5)}%.`,
  (c) =>
    `Taken together the indicators are ${pick(c.random, ["mildly constructive", "mixed", "cautiously bearish", "constructive"])}: momentum and trend ${pick(c.random, ["agree", "disagree"])}, and volume ${pick(c.random, ["confirms", "does not yet confirm"])} the latest move.`,
];

const COMPREHENSIVE_OVERVIEW: Paragraph[] = [
  (c) =>
    `${c.ticker} has ${pick(c.random, ["trended higher", "moved sideways", "drifted lower"])} over the past quarter, with a ${pct(c.random, 3, 22)}% range between its swing high and swing low. The last close of ${price(c.close)} sits ${pick(c.random, ["near the top", "in the middle", "near the bottom"])} of that range.`,
  (c) =>
    `Trend structure: the 50-day SMA is ${pick(c.random, ["above", "below"])} the 200-day SMA, and price has made ${pick(c.random, ["higher highs and higher lows", "lower highs and lower lows", "overlapping swings"])} since the last pivot. RSI at ${intBetween(c.random, 32, 70)} and a ${pick(c.random, ["positive", "negative"])} MACD histogram describe ${pick(c.random, ["steady", "tiring", "building"])} momentum.`,
  (c) =>
    `Volume has averaged ${intBetween(c.random, 70, 140)}% of its 50-day mean on up days and ${intBetween(c.random, 60, 130)}% on down days, so ${pick(c.random, ["buyers", "sellers", "neither side"])} ${pick(c.random, ["control the tape", "hold a modest edge", "has conviction"])}.`,
  (c) =>
    `Key levels: support near ${level(c, 0.93, 0.98)} and ${level(c, 0.86, 0.92)}, resistance near ${level(c, 1.02, 1.06)} and ${level(c, 1.07, 1.14)}. A daily close beyond either band would set the next leg.`,
  (c) =>
    `Risk is ${pick(c.random, ["balanced", "skewed to the downside", "skewed to the upside"])} in the near term; volatility (ATR ${pct(c.random, 1, 3.5)}% of price) argues for position sizes that survive a ${pct(c.random, 4, 9)}% adverse move.`,
];

const VOLUME_ANALYSIS: Paragraph[] = [
  (c) =>
    `Today's volume ran at ${between(c.random, 0.5, 2.4).toFixed(2)}x the 20-day average. ${pick(c.random, ["The expansion came on an up close, a sign of accumulation.", "The expansion came on a down close, a sign of distribution.", "Volume was unremarkable, so the move lacks sponsorship."])}`,
  (c) =>
    `On-balance volume has ${pick(c.random, ["made a new 3-month high", "diverged lower from price", "tracked price closely"])}, and the accumulation/distribution line is ${pick(c.random, ["rising", "flat", "falling"])}. ${pick(c.random, ["Institutions appear to be adding.", "There is little evidence of institutional demand.", "Selling pressure is being absorbed."])}`,
  (c) =>
    `The heaviest volume of the last month clustered near ${level(c, 0.95, 1.03)}, which now acts as a volume shelf; VWAP over 20 sessions is ${level(c, 0.96, 1.03)}, ${pick(c.random, ["below", "above"])} the last close of ${price(c.close)}.`,
  (c) =>
    `Up/down volume ratio over 10 sessions is ${between(c.random, 0.6, 1.8).toFixed(2)}. RSI at ${intBetween(c.random, 30, 72)} with ${pick(c.random, ["rising", "falling"])} volume ${pick(c.random, ["confirms", "contradicts"])} the MACD signal.`,
];

const REVERSAL_PATTERNS: Paragraph[] = [
  (c) =>
    `No completed reversal pattern is visible on the daily chart; ${pick(c.random, ["a potential double bottom", "a possible head-and-shoulders top", "a rising wedge", "a falling wedge"])} is forming with its trigger near ${level(c, 0.94, 1.06)}.`,
  (c) =>
    `The last ${intBetween(c.random, 3, 8)} candles include ${pick(c.random, ["a bullish engulfing bar", "a bearish engulfing bar", "a hammer at support", "a shooting star at resistance", "a doji after a strong run"])}, ${pick(c.random, ["which needs follow-through to count", "confirmed by the next session", "not yet confirmed"])}.`,
  (c) =>
    `RSI(14) shows ${pick(c.random, ["a bullish divergence", "a bearish divergence", "no divergence"])} against price, and the MACD histogram ${pick(c.random, ["made a higher low", "made a lower high", "is tracking price"])}. Reversal odds are ${pick(c.random, ["low", "moderate", "elevated"])}.`,
  (c) =>
    `A reversal would be confirmed by a close ${pick(c.random, ["above", "below"])} ${level(c, 0.95, 1.05)} on volume at least ${between(c.random, 1.2, 1.8).toFixed(1)}x average; until then the prevailing trend gets the benefit of the doubt.`,
];

const CONTINUATION_LEVELS: Paragraph[] = [
  (c) =>
    `Continuation setup: price is ${pick(c.random, ["consolidating in a bull flag", "coiling in a symmetrical triangle", "basing in a tight range", "pulling back to the 20-day EMA"])} after the last impulse leg. A breakout above ${level(c, 1.01, 1.04)} projects to ${level(c, 1.05, 1.12)}.`,
  (c) =>
    `Support ladder: ${level(c, 0.97, 0.99)} (20-day EMA), ${level(c, 0.93, 0.96)} (prior breakout), ${level(c, 0.86, 0.92)} (50-day SMA). Resistance ladder: ${level(c, 1.01, 1.03)}, ${level(c, 1.04, 1.07)}, ${level(c, 1.08, 1.15)}.`,
  (c) =>
    `Fibonacci retracements of the last swing put the 38.2% level at ${level(c, 0.95, 0.98)} and the 61.8% level at ${level(c, 0.9, 0.95)}; holding above the 38.2% keeps the continuation case intact. MACD ${pick(c.random, ["remains positive", "is turning up", "has flattened"])}.`,
  (c) =>
    `A stop below ${level(c, 0.9, 0.96)} limits risk to about ${pct(c.random, 3, 8)}% from the last close of ${price(c.close)}, against ${pct(c.random, 6, 15)}% of upside to the measured target.`,
];

const BY_STAGE: Record<Exclude<Stage, "final_decision">, Paragraph[]> = {
  indicator_summary: INDICATOR_SUMMARY,
  comprehensive_overview: COMPREHENSIVE_OVERVIEW,
  volume_analysis: VOLUME_ANALYSIS,
  reversal_patterns: REVERSAL_PATTERNS,
  continuation_levels: CONTINUATION_LEVELS,
};

const TITLES: Record<Exclude<Stage, "final_decision">, string> = {
  indicator_summary: "Indicator summary",
  comprehensive_overview: "Comprehensive overview",
  volume_analysis: "Volume analysis",
  reversal_patterns: "Reversal patterns",
  continuation_levels: "Continuation levels",
};

/** Unknown or missing stages get the overview: a plausible answer beats an error here. */
export function stageParagraphs(stage: string | null): { title: string; paragraphs: Paragraph[] } {
  const key = (stage && stage in BY_STAGE ? stage : "comprehensive_overview") as keyof typeof BY_STAGE;
  return { title: TITLES[key], paragraphs: BY_STAGE[key] };
}

export type { Paragraph };
