/** Bars along x: bar i is centred in its own slot; `extraSlots` leave room on the right. */
export class XScale {
  readonly step: number;

  constructor(
    readonly count: number,
    readonly left: number,
    readonly right: number,
    extraSlots = 0,
  ) {
    this.step = (right - left) / Math.max(1, count + extraSlots);
  }

  x(index: number): number {
    return this.left + (index + 0.5) * this.step;
  }

  /** Where slot `index` begins (its left edge). */
  edge(index: number): number {
    return this.left + index * this.step;
  }
}

/** A horizontal strip of the chart with its own value axis. */
export class Panel {
  constructor(
    readonly top: number,
    readonly height: number,
    readonly min: number,
    readonly max: number,
  ) {}

  get bottom(): number {
    return this.top + this.height;
  }

  y(value: number): number {
    const span = this.max - this.min || 1;
    return this.bottom - ((value - this.min) / span) * this.height;
  }

  contains(value: number): boolean {
    return value >= this.min && value <= this.max;
  }
}

/** The min and max of the finite values, padded by `pad` of the span (or of the value when flat). */
export function domainOf(values: Iterable<number | null | undefined>, pad = 0.05): [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    if (value === null || value === undefined || !Number.isFinite(value)) continue;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  if (min > max) return [0, 1];
  const span = max - min || Math.abs(max) || 1;
  return [min - span * pad, max + span * pad];
}

/** About `count` round tick values (1, 2, 2.5, 5 × 10^k steps) inside [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  const raw = (max - min) / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return [min];
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) {
    ticks.push(Number(value.toPrecision(12)));
  }
  return ticks;
}

/** A tick label with as many decimals as the step needs, and k/M/B for big numbers (volume). */
export function tickLabel(value: number, step: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim((value / 1e9).toFixed(1))}B`;
  if (abs >= 1e6) return `${trim((value / 1e6).toFixed(1))}M`;
  if (abs >= 1e4) return `${trim((value / 1e3).toFixed(0))}k`;
  return value.toFixed(decimalsOf(step));
}

/** The decimals a tick step needs, so 97.5 on a 2.5 step is not printed as 98 (at most 4). */
function decimalsOf(step: number): number {
  for (let decimals = 0; decimals < 4; decimals++) {
    const scaled = step * 10 ** decimals;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6) return decimals;
  }
  return 4;
}

function trim(text: string): string {
  return text.replace(/\.0$/, "");
}

/** Indices where a new calendar month starts, thinned so labels stay `minGap` slots apart. */
export function monthStarts(dates: readonly string[], minGap: number): number[] {
  const found: number[] = [];
  for (let i = 1; i < dates.length; i++) {
    if ((dates[i] as string).slice(0, 7) !== (dates[i - 1] as string).slice(0, 7)) {
      const previous = found.at(-1);
      if (previous === undefined || i - previous >= minGap) found.push(i);
    }
  }
  return found;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function monthLabel(date: string): string {
  return `${MONTHS[Number(date.slice(5, 7)) - 1] ?? "?"} ${date.slice(0, 4)}`;
}
