/**
 * A service the command needs does not answer. Its message is the one line a user reads:
 * which service, at which address (never the credentials in its URL), and what the socket said.
 */
export class ServiceUnreachableError extends Error {
  override name = "ServiceUnreachableError";
  constructor(
    readonly service: "Redis" | "PostgreSQL",
    readonly address: string,
    detail: string,
  ) {
    super(`${service} at ${address} is unreachable: ${detail}`);
  }
}

/** host:port of a service URL, without user, password or path; the URL itself when unparsable. */
export function serviceAddress(url: string, defaultPort: number): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || "localhost";
    return `${host}:${parsed.port || defaultPort}`;
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//");
  }
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** True for a socket-level failure to reach a server (refused, timed out, unknown host…). */
export function isConnectError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && CONNECT_CODES.has(code);
}
