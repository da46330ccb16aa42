import type { IncomingMessage, ServerResponse } from "node:http";
import type { ErrorReply } from "./rpc-errors.js";

/** Small HTTP helpers: bodies in and out, identity headers, and a close-aware pause. */

/** Inline images make bodies large; anything beyond this is refused like Gemini's 20 MB cap. */
export const MAX_BODY_BYTES = 20 * 1024 * 1024;

export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

export async function readBodyBytes(request: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new BodyTooLargeError(`Request payload size exceeds the limit: ${limit} bytes.`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export async function readBody(request: IncomingMessage): Promise<string> {
  return (await readBodyBytes(request)).toString("utf8");
}

/** Writes a complete response unless the client is already gone (aborted, reset, closing). */
export function sendBody(response: ServerResponse, status: number, contentType: string, body: string): void {
  if (response.destroyed || response.headersSent) return;
  response.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  response.end(body);
}

/** sendBody for bytes as stored (downloads), unchanged by any text encoding. */
export function sendBytes(response: ServerResponse, status: number, contentType: string, body: Buffer): void {
  if (response.destroyed || response.headersSent) return;
  response.writeHead(status, { "content-type": contentType, "content-length": body.length });
  response.end(body);
}

export function sendJson(response: ServerResponse, status: number, value: unknown): void {
  sendBody(response, status, "application/json; charset=UTF-8", JSON.stringify(value));
}

export function sendError(response: ServerResponse, reply: ErrorReply): void {
  sendJson(response, reply.httpStatus, reply.body);
}

export function header(request: IncomingMessage, name: string): string | null {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text && text.length > 0 ? text : null;
}

export function attemptOf(request: IncomingMessage): number | null {
  const text = header(request, "x-stock-ledger-attempt");
  return text && /^\d+$/.test(text) ? Number(text) : null;
}

/** The wake-ups of the waits under way, per signal: one abort listener each, not one per wait. */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * A wait that ends early when the emulator closes, so no timer outlives it. Every request
 * waiting out its latency shares the emulator's one signal; an EventTarget listener per wait
 * made each add and remove walk all the others (hundreds at L = 500 ms).
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  let wakeUps = waiting.get(signal);
  if (!wakeUps) {
    const all = new Set<() => void>();
    signal.addEventListener(
      "abort",
      () => {
        for (const wake of all) wake();
      },
      { once: true },
    );
    waiting.set(signal, all);
    wakeUps = all;
  }
  const pending = wakeUps;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pending.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    pending.add(done);
  });
}

export function clientUrl(host: string, port: number): string {
  if (host === "0.0.0.0") return `http://127.0.0.1:${port}`;
  if (host === "::") return `http://[::1]:${port}`;
  return host.includes(":") ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}
