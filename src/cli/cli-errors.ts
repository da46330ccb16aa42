export { UsageError } from "../config/config.js";

/** A runtime failure the user should read as one line (exit 1), e.g. an unknown analysis id. */
export class CliFailure extends Error {
  readonly exitCode = 1;
  override name = "CliFailure";
}

/** Postgres "undefined_table": the schema was never migrated. */
export function explainDbError(error: unknown): string | null {
  const code = (error as { code?: string } | null)?.code;
  if (code === "42P01") return "the database has no stock-ledger tables: run `stock-ledger migrate` first";
  if (code === "3D000") return "the database does not exist: run `stock-ledger migrate` first";
  if (code === "ECONNREFUSED") return `cannot connect: ${(error as Error).message}`;
  return null;
}
