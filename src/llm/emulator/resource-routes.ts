import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { applyTransportFault } from "./fault-reply.js";
import type { FaultBook } from "./faults.js";
import { NON_JSON_BODY } from "./generate.js";
import { attemptOf, header, sendBody, sendError, sendJson } from "./http-io.js";
import type { EmulatorMethod, RequestLogEntry } from "./protocol.js";
import type { RequestLog } from "./request-log.js";
import { type ErrorReply, googleError } from "./rpc-errors.js";

/**
 * What the REST resources beside the model calls (cachedContents, files) have in common: methods
 * by HTTP verb, one logged call and its ways to end, faults, dispatch, and paged lists.
 */

/** The resource's methods by HTTP verb, on the collection (no id in the path) and on one item. */
export interface MethodTable {
  collection: Record<string, EmulatorMethod>;
  item: Record<string, EmulatorMethod>;
}

export function methodFor(
  table: MethodTable,
  httpMethod: string,
  id: string | null,
): EmulatorMethod | undefined {
  return (id === null ? table.collection : table.item)[httpMethod];
}

export const invalidArgument = (message: string): ErrorReply => googleError(400, "INVALID_ARGUMENT", message);

/** The log fields that depend on the resource; `file` only on Files API entries. */
export type CallSubject = Pick<RequestLogEntry, "method" | "model" | "cachedContent" | "file">;

export type MethodHandlers = Partial<Record<EmulatorMethod, () => void | Promise<void>>>;

export interface PageSizes {
  default: number;
  max: number;
}

/** One request to a resource, logged from arrival; its ways to end stamp the entry's status and duration. */
export class ResourceCall {
  /** Live in the request log: handlers fill in what they learn (new names, usage). */
  readonly entry: RequestLogEntry;

  /** `started` is taken before the body is read, so reading it counts in the duration. */
  constructor(
    readonly request: IncomingMessage,
    readonly response: ServerResponse,
    log: RequestLog,
    private readonly started: number,
    subject: CallSubject,
  ) {
    this.entry = log.open({
      at: new Date().toISOString(),
      method: subject.method,
      model: subject.model,
      analysisId: header(request, "x-stock-ledger-analysis-id"),
      callType: header(request, "x-stock-ledger-call-type"),
      attempt: attemptOf(request),
      status: 0,
      fault: null,
      usageMetadata: null,
      cachedContent: subject.cachedContent,
      ...(subject.file !== undefined ? { file: subject.file } : {}),
      durationMs: 0,
    });
  }

  /** Ends without answering (faults that hang or reset, clients gone); arrows, so they pass as callbacks. */
  readonly finish = (status: number): void => {
    this.entry.status = status;
    this.entry.durationMs = Math.round(performance.now() - this.started);
  };

  readonly reply = (status: number, value: unknown): void => {
    this.finish(status);
    sendJson(this.response, status, value);
  };

  readonly fail = (error: ErrorReply): void => {
    this.finish(error.httpStatus);
    sendError(this.response, error);
  };

  /** Applies the fault matching the call, if any; true when that answered (or never will). */
  answerFault(faults: FaultBook): boolean {
    const rule = faults.match(this.entry);
    this.entry.fault = rule?.kind ?? null;
    if (rule && applyTransportFault(rule.kind, rule, this.request, this.response, this.finish)) return true;
    if (rule?.kind !== "non_json") return false;
    this.finish(200);
    sendBody(this.response, 200, "text/html", NON_JSON_BODY);
    return true;
  }

  /**
   * Runs the method's handler. A thrown error that `errorReply` knows (bad input, a clash) is
   * answered with its reply; any other is a bug and is thrown on.
   */
  async run(
    method: EmulatorMethod,
    handlers: MethodHandlers,
    errorReply: (error: unknown) => ErrorReply | null,
  ): Promise<void> {
    try {
      const handler = handlers[method];
      if (!handler) return this.fail(googleError(404, "NOT_FOUND", `Method not found: ${method}`));
      await handler();
    } catch (error) {
      const reply = errorReply(error);
      if (!reply) throw error;
      this.fail(reply);
    }
  }

  /**
   * Answers a list call with one page: pageToken is the offset, base64url. Empty fields are omitted,
   * as on Gemini, so an empty list is `{}`. `live` runs only once the paging is valid.
   */
  replyPage<T>(
    url: URL,
    sizes: PageSizes,
    field: string,
    live: () => readonly T[],
    resourceOf: (item: T) => unknown,
  ): void {
    const requested = Number(url.searchParams.get("pageSize") ?? sizes.default);
    const pageSize = Number.isInteger(requested) && requested > 0 ? Math.min(requested, sizes.max) : 0;
    const token = url.searchParams.get("pageToken");
    const offset = token ? Number(Buffer.from(token, "base64url").toString("utf8")) : 0;
    if (pageSize === 0 || !Number.isInteger(offset) || offset < 0) {
      this.fail(invalidArgument("Invalid pageSize or pageToken."));
      return;
    }
    const items = live();
    const page = items.slice(offset, offset + pageSize);
    const next = offset + pageSize < items.length ? String(offset + pageSize) : null;
    this.reply(200, {
      ...(page.length > 0 ? { [field]: page.map(resourceOf) } : {}),
      ...(next ? { nextPageToken: Buffer.from(next).toString("base64url") } : {}),
    });
  }
}
