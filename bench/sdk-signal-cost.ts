/**
 * What a per-call AbortSignal costs the Gemini SDK: the same generateContent calls (64 in
 * flight, the emulator at 0 ms in its own process) with no signal and with one deadline
 * controller per call, as src/llm/gemini-client.ts passes. The SDK adds its own controller
 * and a listener to every signal it is given, and undici a WeakRef and a FinalizationRegistry
 * entry per request, so the difference is this process' CPU per call for that plumbing.
 * `npx tsx bench/sdk-signal-cost.ts [--calls 6000] [--rounds 4]`
 */
import { GoogleGenerativeAI } from "@google/generative-ai";
import { startEmulatorProcess } from "./lib/processes.js";
import { fmt, isMain, median, numberArg } from "./lib/report.js";

const PROMPT = `Stage: indicator_summary\n${"RSI 54, MACD above its signal line. ".repeat(60)}`;
const IN_FLIGHT = 64;

async function callsCpuUs(baseUrl: string, calls: number, withSignal: boolean): Promise<number> {
  const model = new GoogleGenerativeAI("bench").getGenerativeModel(
    { model: "gemini-2.5-flash" },
    { baseUrl },
  );
  let started = 0;
  const lane = async () => {
    while (started < calls) {
      started++;
      const deadline = withSignal ? new AbortController() : undefined;
      const timer = deadline && setTimeout(() => deadline.abort(), 60_000);
      try {
        const result = await model.generateContent(
          { contents: [{ role: "user", parts: [{ text: PROMPT }] }] },
          deadline ? { signal: deadline.signal } : {},
        );
        result.response.text();
      } finally {
        clearTimeout(timer);
      }
    }
  };
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const spent = process.cpuUsage(before);
  return (spent.user + spent.system) / calls;
}

if (isMain(import.meta.url)) {
  const calls = numberArg(process.argv, "calls", 6000);
  const rounds = numberArg(process.argv, "rounds", 4);
  const emulator = await startEmulatorProcess(0);
  try {
    // Warm both paths first: the first thousands of calls also pay for compiling them.
    await callsCpuUs(emulator.url, 3000, true);
    await callsCpuUs(emulator.url, 3000, false);
    const without: number[] = [];
    const withSignal: number[] = [];
    for (let round = 0; round < rounds; round++) {
      without.push(await callsCpuUs(emulator.url, calls, false));
      withSignal.push(await callsCpuUs(emulator.url, calls, true));
      const last = (list: number[]) => fmt(list.at(-1) ?? Number.NaN, 1);
      process.stderr.write(
        `round ${round + 1}: no signal ${last(without)} µs/call, signal ${last(withSignal)} µs/call\n`,
      );
    }
    const cost = withSignal.map((w, i) => w - (without[i] ?? w));
    console.log(
      `CPU µs per generateContent call (median of ${rounds} rounds of ${calls}): no signal ${fmt(median(without), 1)}, ` +
        `a deadline signal per call ${fmt(median(withSignal), 1)}; the signal costs ${fmt(median(cost), 1)} µs per call ` +
        `(${fmt((median(cost) * 6) / 1000, 2)} ms per six-call analysis)`,
    );
  } finally {
    await emulator.stop("SIGTERM");
  }
  process.exit(0);
}
