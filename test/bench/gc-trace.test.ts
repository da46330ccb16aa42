import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { GC_TRACE_FLAG, GcTrace } from "../../bench/lib/gc-trace.js";

/** A real node process with V8's GC trace on, forcing two scavenges and one mark-compact. */
function runTracedChild(trace: GcTrace): Promise<void> {
  const script = `
    let keep = [];
    for (let i = 0; i < 2e5; i++) keep.push({ i, s: "x" + i });
    gc({ type: "minor" });
    gc({ type: "minor" });
    keep = null;
    gc();
  `;
  const child = spawn(process.execPath, [GC_TRACE_FLAG, "--expose-gc", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  child.stdout.on("data", (chunk: Buffer) => trace.onOutput(chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}`)))),
  );
}

describe("GcTrace", () => {
  it("sums V8's --trace-gc-nvp lines inside a window, per analysis", async () => {
    const trace = new GcTrace();
    const from = Date.now();
    await runTracedChild(trace);
    const to = Date.now();

    const whole = trace.summary({ from, to }, 1);
    expect(whole.scavenges).toBeGreaterThanOrEqual(2);
    expect(whole.markCompacts).toBeGreaterThanOrEqual(1);
    expect(whole.allocatedKb).toBeGreaterThan(1000); // 200,000 small objects were made
    expect(whole.pauseMs).toBeGreaterThan(0);

    // Per analysis divides; a window before the child ran holds nothing.
    const halved = trace.summary({ from, to }, 2);
    expect(halved.allocatedKb).toBeCloseTo(whole.allocatedKb / 2, 5);
    expect(trace.summary({ from: from - 10_000, to: from - 1 }, 1)).toMatchObject({
      scavenges: 0,
      markCompacts: 0,
      allocatedKb: 0,
    });
  });
});
