// A few SVG string builders. Coordinates are rounded to 0.1 px: finer digits only bloat the
// document, and fixed rounding keeps the output (and so the PNG) byte-for-byte repeatable.

export type Attrs = Record<string, string | number | undefined>;

export function num(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return Object.is(rounded, -0) ? "0" : String(rounded);
}

/** A white outline behind text drawn over the plot, so it stays readable across candles. */
export const HALO: Attrs = {
  stroke: "#ffffff",
  "stroke-width": 3,
  "paint-order": "stroke",
  "stroke-linejoin": "round",
};

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function attrs(values: Attrs): string {
  return Object.entries(values)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}="${typeof value === "number" ? num(value) : escapeXml(String(value))}"`)
    .join("");
}

export function el(tag: string, values: Attrs, children = ""): string {
  return children === "" ? `<${tag}${attrs(values)}/>` : `<${tag}${attrs(values)}>${children}</${tag}>`;
}

export function text(x: number, y: number, content: string, values: Attrs = {}): string {
  return el("text", { x, y, ...values }, escapeXml(content));
}

export function line(x1: number, y1: number, x2: number, y2: number, values: Attrs): string {
  return el("line", { x1, y1, x2, y2, ...values });
}

export function rect(x: number, y: number, width: number, height: number, values: Attrs): string {
  return el("rect", { x, y, width: Math.max(width, 0), height: Math.max(height, 0), ...values });
}

/**
 * A polyline through the points, broken into separate runs where a value is missing (an
 * indicator before it has enough bars), as one path element.
 */
export function pathThrough(points: readonly ([number, number] | null)[], values: Attrs): string {
  let d = "";
  let drawing = false;
  for (const point of points) {
    if (point === null) {
      drawing = false;
      continue;
    }
    d += `${drawing ? "L" : "M"}${num(point[0])} ${num(point[1])}`;
    drawing = true;
  }
  return d === "" ? "" : el("path", { d, fill: "none", ...values });
}

/** A closed area between two runs of points (a band), skipping indices where either is missing. */
export function bandBetween(
  upper: readonly ([number, number] | null)[],
  lower: readonly ([number, number] | null)[],
  values: Attrs,
): string {
  const pairs: [[number, number], [number, number]][] = [];
  upper.forEach((point, i) => {
    const below = lower[i];
    if (point !== null && below != null) pairs.push([point, below]);
  });
  if (pairs.length < 2) return "";
  const top = pairs.map(([u]) => `${num(u[0])} ${num(u[1])}`);
  const bottom = pairs.map(([, l]) => `${num(l[0])} ${num(l[1])}`).reverse();
  return el("path", { d: `M${top.join("L")}L${bottom.join("L")}Z`, ...values });
}

/** A triangle pointing up (bullish marker) or down (bearish) with its tip at (x, y). */
export function triangle(x: number, y: number, size: number, up: boolean, values: Attrs): string {
  const base = up ? y + size : y - size;
  return el("path", {
    d: `M${num(x)} ${num(y)}L${num(x - size * 0.7)} ${num(base)}L${num(x + size * 0.7)} ${num(base)}Z`,
    ...values,
  });
}

export function diamond(x: number, y: number, size: number, values: Attrs): string {
  return el("path", {
    d: `M${num(x)} ${num(y - size)}L${num(x + size)} ${num(y)}L${num(x)} ${num(y + size)}L${num(x - size)} ${num(y)}Z`,
    ...values,
  });
}

export function circle(x: number, y: number, r: number, values: Attrs): string {
  return el("circle", { cx: x, cy: y, r, ...values });
}
