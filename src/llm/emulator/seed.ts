import { createHash } from "node:crypto";

/** A 32-bit seed from text, so the same request always yields the same answer. */
export function seedFromText(text: string): number {
  return createHash("sha256").update(text).digest().readUInt32BE(0);
}

export type Random = () => number;

/** mulberry32: tiny, fast, good enough to vary wording and fire faults reproducibly. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function between(random: Random, low: number, high: number): number {
  return low + (high - low) * random();
}

export function intBetween(random: Random, low: number, high: number): number {
  return Math.floor(between(random, low, high + 1));
}

export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

/** n distinct items in their original order (paragraph variety without reordering the story). */
export function pickSome<T>(random: Random, items: readonly T[], n: number): T[] {
  const indexes = items.map((_, index) => ({ index, key: random() }));
  indexes.sort((a, b) => a.key - b.key);
  const chosen = new Set(indexes.slice(0, n).map((entry) => entry.index));
  return items.filter((_, index) => chosen.has(index));
}
