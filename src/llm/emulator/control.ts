import type { IncomingMessage, ServerResponse } from "node:http";
import { handleBatchControl } from "./batch-control.js";
import type { BatchStore } from "./batches.js";
import { type FaultBook, FaultSpecError, parseFaultSpec } from "./faults.js";
import { readBody, sendError, sendJson } from "./http-io.js";
import type { CachedContentInfo, EmulatorTraffic, UploadedFileInfo } from "./protocol.js";
import type { RequestLog } from "./request-log.js";
import { googleError } from "./rpc-errors.js";

/**
 * /_emulator/* routes, so a test in another process (chaos tests, `stock-ledger emulator`)
 * can read the request log and change faults without importing the emulator.
 */

export const CONTROL_PREFIX = "/_emulator/";

export interface ControlState {
  log: RequestLog;
  faults: FaultBook;
  startedAt: number;
  cachedContents: () => CachedContentInfo[];
  files: () => UploadedFileInfo[];
  traffic: () => EmulatorTraffic;
  batches: BatchStore;
}

export async function handleControl(
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  state: ControlState,
): Promise<void> {
  const route = `${request.method ?? "GET"} ${path.slice(CONTROL_PREFIX.length - 1)}`;
  if (await handleBatchControl(request, response, route, state.batches)) return;
  switch (route) {
    case "GET /health":
      return sendJson(response, 200, {
        status: "ok",
        uptimeMs: Date.now() - state.startedAt,
        logEntries: state.log.size,
        faultRules: state.faults.list().length,
        files: state.files().length,
      });
    case "GET /log":
      return sendJson(response, 200, { entries: state.log.list() });
    case "DELETE /log":
      return sendJson(response, 200, { cleared: state.log.clear() });
    case "GET /faults":
      return sendJson(response, 200, { faults: state.faults.list() });
    case "DELETE /faults":
      state.faults.set([]);
      return sendJson(response, 200, { faults: [] });
    case "PUT /faults":
      return putFaults(request, response, state);
    case "GET /cached-contents":
      return sendJson(response, 200, { cachedContents: state.cachedContents() });
    case "GET /files":
      return sendJson(response, 200, { files: state.files() });
    case "GET /traffic":
      return sendJson(response, 200, state.traffic());
    default:
      return sendError(response, googleError(404, "NOT_FOUND", `Unknown emulator control route: ${route}`));
  }
}

/** Accepts a JSON array of rules or the compact spec text; replaces rules and their counters. */
async function putFaults(
  request: IncomingMessage,
  response: ServerResponse,
  state: ControlState,
): Promise<void> {
  try {
    const rules = parseFaultSpec(await readBody(request));
    state.faults.set(rules);
    sendJson(response, 200, { faults: state.faults.list() });
  } catch (error) {
    if (!(error instanceof FaultSpecError)) throw error;
    sendError(response, googleError(400, "INVALID_ARGUMENT", error.message));
  }
}
