import type { EmulatorMethod, EmulatorTraffic } from "./protocol.js";

/**
 * Requests and request body bytes per method since start: unlike the request log, never
 * trimmed, so a long bench can read what its clients sent (inline images vs file references).
 */
export class TrafficCounters {
  readonly #requests: Partial<Record<EmulatorMethod, number>> = {};
  readonly #bytes: Partial<Record<EmulatorMethod, number>> = {};

  record(method: EmulatorMethod, bodyBytes: number): void {
    this.#requests[method] = (this.#requests[method] ?? 0) + 1;
    this.#bytes[method] = (this.#bytes[method] ?? 0) + bodyBytes;
  }

  snapshot(filesUploaded: number): EmulatorTraffic {
    return { requests: { ...this.#requests }, requestBytes: { ...this.#bytes }, filesUploaded };
  }
}
