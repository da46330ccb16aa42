import { describe, expect, it } from "vitest";
import { pause } from "../../src/llm/emulator/http-io.js";

describe("emulator latency waits", () => {
  it("ends a wait after its time when nothing closes", async () => {
    const started = performance.now();
    await pause(30, new AbortController().signal);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it("wakes every wait on a signal at once when it aborts, and none twice", async () => {
    const lifetime = new AbortController();
    const ended: number[] = [];
    const waits = Array.from({ length: 300 }, (_, i) =>
      pause(60_000, lifetime.signal).then(() => ended.push(i)),
    );
    // One wait ending on its own before the abort must not be woken again.
    const short = pause(5, lifetime.signal).then(() => ended.push(-1));
    await short;
    const started = performance.now();
    lifetime.abort();
    await Promise.all(waits);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(ended).toHaveLength(301);
    expect(new Set(ended).size).toBe(301);
  });

  it("does not wait at all once the signal has aborted", async () => {
    const lifetime = new AbortController();
    lifetime.abort();
    const started = performance.now();
    await pause(60_000, lifetime.signal);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
