import type { IncomingMessage, ServerResponse } from "node:http";
import { sendError } from "./http-io.js";
import type { FaultKind, FaultRule } from "./protocol.js";
import { httpFaultReply } from "./rpc-errors.js";

/**
 * The transport side of a fault, shared by model calls and cachedContents calls: hang until the
 * client gives up, reset the socket, or answer with an HTTP error. Returns true when the request
 * is done; content faults (blocked, bad_schema, non_json...) are left to the caller.
 */
export function applyTransportFault(
  kind: FaultKind,
  rule: FaultRule | null,
  request: IncomingMessage,
  response: ServerResponse,
  finish: (status: number) => void,
): boolean {
  if (kind === "timeout") {
    // Never answer. The entry's duration is updated when the client gives up or close() cuts it.
    response.once("close", () => finish(0));
    return true;
  }
  if (kind === "reset") {
    finish(0);
    request.socket.destroy();
    return true;
  }
  const reply = httpFaultReply(kind, rule?.retryDelaySeconds ?? 1);
  if (!reply) return false;
  finish(reply.httpStatus);
  sendError(response, reply);
  return true;
}
