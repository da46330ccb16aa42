import { readFileSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { type Logger, pino } from "pino";

/**
 * A Yahoo v8/finance/chart answer for RELIANCE.NS, hand-built in the shape chart() fetches
 * (there is no network here to record one); the prices are invented. 25 rows from
 * 2026-10-19 to 2026-11-19 stamped 03:45Z (09:15 IST): the 10th row (2026-10-30) is all nulls
 * like a holiday, 2026-11-06 has its open 0.40 above its high, and 2026-11-19 comes twice,
 * the second time as a live quote at 09:58Z with close 1373.50.
 */
export const RELIANCE_CHART: string = readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "yahoo-chart-reliance-ns.json"),
  "utf8",
);

export type Reply = { status: number; body: string; headers?: Record<string, string> } | "hang";

/** A fetch that replays canned replies in order (the last one repeats) and records each URL. */
export function recordedFetch(replies: Reply[]): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  const replay = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    urls.push(String(input));
    const reply = replies[Math.min(urls.length - 1, replies.length - 1)] as Reply;
    if (reply === "hang") {
      // Like a server that never answers: only the caller's abort ends it.
      return new Promise((_, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
      });
    }
    return new Response(reply.body, {
      status: reply.status,
      headers: { "content-type": "application/json", ...reply.headers },
    });
  };
  return { fetch: replay as typeof fetch, urls };
}

export const ok = (body = RELIANCE_CHART): Reply => ({ status: 200, body });
export const tooMany = (retryAfter?: string): Reply => ({
  status: 429,
  body: "Too Many Requests",
  headers: retryAfter === undefined ? {} : { "retry-after": retryAfter },
});
export const notFound: Reply = {
  status: 404,
  body: JSON.stringify({
    chart: {
      result: null,
      error: { code: "Not Found", description: "No data found, symbol may be delisted" },
    },
  }),
};

/** A pino logger whose lines the test can read. */
export function capturedLogger(): {
  logger: Logger;
  lines: { level: number; msg: string; [key: string]: unknown }[];
} {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split("\n")) if (text.trim() !== "") lines.push(JSON.parse(text));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}
