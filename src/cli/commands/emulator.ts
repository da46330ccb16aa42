import {
  BATCH_OUTCOMES,
  type BatchOutcome,
  parseFaultSpec,
  startEmulator,
} from "../../llm/emulator/index.js";
import { quoteInput } from "../../queue/job-payload.js";
import type { CliContext } from "../cli-context.js";
import { UsageError } from "../cli-errors.js";
import { parsePort } from "../input.js";

export interface EmulatorCommandOptions {
  port?: string;
  /** --batch-delay-ms: how long a batch stays pending/running before it ends. */
  batchDelayMs?: string;
  /** --batch-expiry-ms: a batch not done this long after creation ends EXPIRED. */
  batchExpiryMs?: string;
  /** --batch-outcome: how batches end once their delay has passed (succeeded, failed, expired, cancelled). */
  batchOutcome?: string;
}

function parseMs(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new UsageError(`invalid ${flag} ${quoteInput(raw)}: must be a whole number of milliseconds`);
  }
  return value;
}

function parseOutcome(raw: string | undefined): BatchOutcome | undefined {
  if (raw === undefined) return undefined;
  if ((BATCH_OUTCOMES as readonly string[]).includes(raw)) return raw as BatchOutcome;
  throw new UsageError(
    `invalid --batch-outcome ${quoteInput(raw)}: must be one of ${BATCH_OUTCOMES.join(", ")}`,
  );
}

/** Serves the Gemini-protocol emulator until SIGTERM/SIGINT. */
export async function emulatorCommand(ctx: CliContext, options: EmulatorCommandOptions): Promise<void> {
  const { emulator } = ctx.config;
  const batchDelayMs = parseMs(options.batchDelayMs, "--batch-delay-ms");
  const batchExpiryMs = parseMs(options.batchExpiryMs, "--batch-expiry-ms");
  const batchOutcome = parseOutcome(options.batchOutcome);
  const handle = await startEmulator({
    port: options.port === undefined ? 8787 : parsePort(options.port),
    latencyMs: emulator.latencyMs,
    faults: emulator.faults ? parseFaultSpec(emulator.faults) : [],
    // The flag wins over EMULATOR_BATCH_DELAY_MS, as --port does over the default.
    batchDelayMs: batchDelayMs ?? emulator.batchDelayMs,
    ...(batchExpiryMs !== undefined ? { batchExpiryMs } : {}),
    ...(batchOutcome !== undefined ? { batchOutcome } : {}),
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
