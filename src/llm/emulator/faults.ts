import { z } from "zod";
import {
  EMULATOR_METHODS,
  type EmulatorMethod,
  FAULT_KINDS,
  type FaultKind,
  type FaultRule,
} from "./protocol.js";
import { createRandom, type Random } from "./seed.js";

/**
 * Fault rules: which requests fail, and how. Rules are validated strictly so a typo in a
 * chaos test's spec fails loudly instead of silently never firing.
 */

export const faultRuleSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS),
  callType: z.string().min(1).optional(),
  attempt: z.number().int().min(0).optional(),
  analysisId: z.string().min(1).optional(),
  method: z.enum(EMULATOR_METHODS).optional(),
  times: z.number().int().min(0).optional(),
  retryDelaySeconds: z.number().min(0).optional(),
  probability: z.number().min(0).max(1).optional(),
});

const faultRulesSchema = z.array(faultRuleSchema);

export class FaultSpecError extends Error {
  override name = "FaultSpecError";
}

function validateRules(value: unknown): FaultRule[] {
  const parsed = faultRulesSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FaultSpecError(`invalid fault rule at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  return parsed.data;
}

/** Validates rules given in-process (setFaults, startEmulator's options). */
export function validateFaultRules(rules: readonly FaultRule[]): FaultRule[] {
  return validateRules(rules);
}

// kind[@callType][#attempt][*times][~probability], e.g. "rate_limited@indicator_summary#1*2"
const COMPACT_RULE = /^([a-z_]+)(?:@([a-z_]+))?(?:#(\d+))?(?:\*(\d+))?(?:~(\d*\.?\d+))?$/;

function parseCompactRule(item: string): FaultRule {
  const match = COMPACT_RULE.exec(item);
  if (!match) {
    throw new FaultSpecError(
      `invalid fault "${item}": expected kind[@callType][#attempt][*times][~probability]`,
    );
  }
  const [, kind, callType, attempt, times, probability] = match;
  const rule: Record<string, unknown> = { kind };
  if (callType) rule.callType = callType;
  if (attempt) rule.attempt = Number(attempt);
  if (times) rule.times = Number(times);
  if (probability) rule.probability = Number(probability);
  const [valid] = validateRules([rule]);
  if (!valid) throw new FaultSpecError(`invalid fault "${item}"`);
  return valid;
}

/**
 * Faults from an env var, a CLI flag or an HTTP body: a JSON array of rules (or one rule
 * object), or the compact form "rate_limited@indicator_summary#1,server_error@final_decision".
 * Compact items are kind[@callType][#attempt][*times][~probability]. Throws FaultSpecError.
 */
export function parseFaultSpec(text: string): FaultRule[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      throw new FaultSpecError(`fault spec is not valid JSON: ${(error as Error).message}`);
    }
    return validateRules(Array.isArray(json) ? json : [json]);
  }
  return trimmed
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")
    .map(parseCompactRule);
}

/**
 * Faults countTokens and the cachedContents calls can suffer; content faults (blocked,
 * bad_schema...) only exist for generation.
 */
const TRANSPORT_FAULTS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  "rate_limited",
  "server_error",
  "overloaded",
  "timeout",
  "reset",
  "non_json",
  "invalid_request",
  "auth",
]);

export interface FaultTarget {
  method: EmulatorMethod;
  callType: string | null;
  attempt: number | null;
  analysisId: string | null;
}

export interface FaultState {
  rule: FaultRule;
  fired: number;
}

/** The active rules and how often each has fired (for `times`). */
export class FaultBook {
  #states: FaultState[] = [];
  readonly #random: Random;

  constructor(rules: readonly FaultRule[], seed: number) {
    this.#random = createRandom(seed);
    this.set(rules);
  }

  /** Replaces the rules and resets their counters. */
  set(rules: readonly FaultRule[]): void {
    this.#states = validateFaultRules(rules).map((rule) => ({ rule, fired: 0 }));
  }

  list(): FaultState[] {
    return this.#states.map((state) => ({ rule: { ...state.rule }, fired: state.fired }));
  }

  /** The first rule that matches and fires for this request, counted as fired; else null. */
  match(target: FaultTarget): FaultRule | null {
    for (const state of this.#states) {
      const { rule } = state;
      if ((rule.method ?? "generateContent") !== target.method) continue;
      if (target.method !== "generateContent" && !TRANSPORT_FAULTS.has(rule.kind)) continue;
      if (rule.callType !== undefined && rule.callType !== target.callType) continue;
      if (rule.attempt !== undefined && rule.attempt !== target.attempt) continue;
      if (rule.analysisId !== undefined && rule.analysisId !== target.analysisId) continue;
      if (rule.times !== undefined && state.fired >= rule.times) continue;
      // Drawn only for otherwise-matching requests, so unrelated traffic does not shift the sequence.
      if (rule.probability !== undefined && this.#random() >= rule.probability) continue;
      state.fired++;
      return rule;
    }
    return null;
  }
}
