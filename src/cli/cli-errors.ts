import { isConnectError, ServiceUnreachableError, serviceAddress } from "../service-unreachable.js";

export { UsageError } from "../config/config.js";

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
