/**
 * Money is kept as integer picodollars (1e-12 USD) in BigInt, so sums are exact and
 * a cost can be written to a NUMERIC column without ever passing through a float.
 */
export type Picodollars = bigint;

const SCALE = 12;
const UNIT = 10n ** BigInt(SCALE);

/** Parses a decimal USD string ("0.30", "1.25") into picodollars, exactly. */
export function usdToPico(usd: string): Picodollars {
  const match = /^(-)?(\d+)(?:\.(\d{1,12}))?$/.exec(usd.trim());
  if (!match) throw new Error(`not a USD amount: ${usd}`);
  const [, sign, whole = "0", fraction = ""] = match;
  const value = BigInt(whole) * UNIT + BigInt(fraction.padEnd(SCALE, "0"));
  return sign ? -value : value;
}

/** Exact decimal string, trailing zeros trimmed ("0.00909", "0"). */
export function picoToUsd(pico: Picodollars): string {
  const negative = pico < 0n;
  const abs = negative ? -pico : pico;
  const whole = abs / UNIT;
  const fraction = (abs % UNIT).toString().padStart(SCALE, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** For JSON output, where a number is expected; exact for any realistic amount. */
export const picoToNumber = (pico: Picodollars): number => Number(picoToUsd(pico));

/** "$0.009090" as in the summary: six decimals, rounded half up. */
export function formatUsd(pico: Picodollars): string {
  const micro = (pico + 500_000n) / 1_000_000n;
  const whole = micro / 1_000_000n;
  return `$${whole}.${(micro % 1_000_000n).toString().padStart(6, "0")}`;
}
