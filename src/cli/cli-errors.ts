import { CommanderError } from "commander";
import { UsageError } from "../config/config.js";
import { isConnectError, ServiceUnreachableError, serviceAddress } from "../service-unreachable.js";

export { UsageError };

/** A runtime failure the user should read as one line (exit 1), e.g. an unknown analysis id. */
export class CliFailure extends Error {
  readonly exitCode = 1;
  override name = "CliFailure";
}

/**
 * A database error a user can act on, as one line: the schema was never migrated, or
 * PostgreSQL does not answer (named with its address when `databaseUrl` is given).
 */
export function explainDbError(error: unknown, databaseUrl?: string): string | null {
  const code = (error as { code?: string } | null)?.code;
  if (code === "42P01") return "the database has no stock-ledger tables: run `stock-ledger migrate` first";
  if (code === "3D000") return "the database does not exist: run `stock-ledger migrate` first";
  if (isConnectError(error)) {
    const { address, port } = error as { address?: string; port?: number };
    const where = databaseUrl
      ? serviceAddress(databaseUrl, 5432)
      : address
        ? `${address}${port ? `:${port}` : ""}`
        : "its address";
    return new ServiceUnreachableError("PostgreSQL", where, code ?? "connection failed").message;
  }
  return null;
}

/**
 * How a command that threw ends: its exit code, and the one line main() prints after
 * "stock-ledger: " (null: nothing to add, e.g. help). 2 is bad usage or input, 1 a runtime failure.
 */
export async function describeFailure(
  error: unknown,
  databaseUrl: string | undefined,
): Promise<{ code: number; line: string | null }> {
  if (error instanceof CommanderError) {
    // --help and --version end this way too (exit 0); a bare `stock-ledger` printed its help to stderr.
    if (error.exitCode === 0) return { code: 0, line: null };
    if (error.code === "commander.help") return { code: 2, line: null };
    return { code: 2, line: commanderLine(error.message) };
  }
  if (error instanceof UsageError) return { code: 2, line: firstLine(error.message) };
  const { DailyBudgetExhaustedError } = await import("../analysis/daily-budget.js");
  if (
    error instanceof CliFailure ||
    error instanceof DailyBudgetExhaustedError ||
    error instanceof ServiceUnreachableError
  ) {
    return { code: 1, line: firstLine(error.message) };
  }
  const explained = explainDbError(error, databaseUrl);
  return { code: 1, line: firstLine(explained ?? (error instanceof Error ? error.message : String(error))) };
}

/**
 * Commander's message as one line without its own "error: " prefix, its suggestion kept:
 * "error: unknown command 'analize'\n(Did you mean analyze?)" → "unknown command 'analize' (did you mean analyze?)".
 */
export function commanderLine(message: string): string {
  return message
    .replace(/^error:\s*/, "")
    .split("\n")
    .map((part) => part.trim())
    .filter(Boolean)
    .join(" ")
    .replace(/\(Did you mean /g, "(did you mean ");
}

const firstLine = (message: string): string => message.split("\n")[0] ?? "";
