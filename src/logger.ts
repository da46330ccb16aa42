import { type Logger, pino } from "pino";
import { quoteEnvValue, UsageError } from "./config/config.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * LOG_LEVEL (any case; unset or blank: info), checked before pino sees it: a bad one is one line
 * naming the variable (the CLI exits 2), not pino's stack trace.
 */
export function parseLogLevel(value: string | undefined): LogLevel {
  const level = (value ?? "").trim().toLowerCase();
  if (level === "") return "info";
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new UsageError(
    `invalid LOG_LEVEL: must be one of ${LOG_LEVELS.join(", ")}, not ${quoteEnvValue(value ?? "")}`,
  );
}

/**
 * The one logger of the process. Modules take a child bound to their analysis id
 * (`logger.child({ analysisId })`) so every line about an analysis carries it.
 * Logs go to stderr so that stdout stays clean for command output (--json).
 */
export const logger: Logger = pino(
  {
    level: parseLogLevel(process.env.LOG_LEVEL),
    base: { service: "stock-ledger" },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  pino.destination({ dest: 2, sync: false }),
);

export type { Logger };
