import type { Config } from "../config/config.js";
import type { Logger } from "../logger.js";
import { type EmulatorHandle, parseFaultSpec, startEmulator } from "./emulator/index.js";
import { GeminiClient } from "./gemini-client.js";

export interface LlmConnection {
  client: GeminiClient;
  /** Where calls go, for logs and the summary ("built-in emulator" or a URL). */
  endpoint: string;
  /** The in-process emulator, when no key and no base URL are configured. */
  emulator: EmulatorHandle | null;
  close(): Promise<void>;
}

/**
 * Real Gemini when GEMINI_API_KEY is set, any Gemini-protocol server at GEMINI_BASE_URL,
 * or, with neither, the built-in emulator started in this process on a free port.
 */
export async function connectLlm(config: Config, logger: Logger): Promise<LlmConnection> {
  const { gemini } = config;
  if (!gemini.useEmulator) {
    const client = new GeminiClient({
      apiKey: gemini.apiKey ?? "unused-by-this-server",
      baseUrl: gemini.baseUrl,
      timeoutMs: gemini.timeoutMs,
      chartTransport: gemini.chartTransport,
      logger,
    });
    const endpoint = gemini.baseUrl ?? "Google Gemini API";
    logger.info({ endpoint, model: gemini.model }, "using Gemini endpoint");
    return { client, endpoint, emulator: null, close: async () => {} };
  }
  const emulator = await startEmulator({
    latencyMs: config.emulator.latencyMs,
    batchDelayMs: config.emulator.batchDelayMs,
    faults: config.emulator.faults ? parseFaultSpec(config.emulator.faults) : [],
  });
  logger.info({ endpoint: emulator.url }, "no GEMINI_API_KEY: using the built-in Gemini emulator");
  const client = new GeminiClient({
    apiKey: "emulator",
    baseUrl: emulator.url,
    timeoutMs: gemini.timeoutMs,
    chartTransport: gemini.chartTransport,
    logger,
  });
  return { client, endpoint: `built-in emulator (${emulator.url})`, emulator, close: () => emulator.close() };
}
