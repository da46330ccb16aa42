import { parseFaultSpec, startEmulator } from "../../llm/emulator/index.js";
import type { CliContext } from "../cli-context.js";
import { parsePort } from "../input.js";

/** Serves the Gemini-protocol emulator until SIGTERM/SIGINT. */
export async function emulatorCommand(ctx: CliContext, options: { port?: string }): Promise<void> {
  const { emulator } = ctx.config;
  const handle = await startEmulator({
    port: options.port === undefined ? 8787 : parsePort(options.port),
    latencyMs: emulator.latencyMs,
    faults: emulator.faults ? parseFaultSpec(emulator.faults) : [],
  });
  process.stdout.write(
    `Gemini emulator listening on ${handle.url}\nuse: GEMINI_BASE_URL=${handle.url} GEMINI_API_KEY=any stock-ledger worker\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await handle.close();
}
