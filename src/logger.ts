import { type Logger, pino } from "pino";

/**
 * The one logger of the process. Modules take a child bound to their analysis id
 * (`logger.child({ analysisId })`) so every line about an analysis carries it.
 * Logs go to stderr so that stdout stays clean for command output (--json).
 */
export const logger: Logger = pino(
  {
    level: process.env.LOG_LEVEL ?? "info",
    base: { service: "stock-ledger" },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  pino.destination({ dest: 2, sync: false }),
);

export type { Logger };
