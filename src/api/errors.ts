import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { DailyBudgetExhaustedError } from "../analysis/daily-budget.js";
import { UsageError } from "../config/config.js";
import type { Logger } from "../logger.js";
import { quoteInput } from "../queue/job-payload.js";
import { ServiceUnreachableError } from "../service-unreachable.js";
import { isTransientDbError } from "../store/transient.js";

/** An error the API answers with its own status and `{"error": code, "message"}`. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new ApiError(404, "not_found", message);

interface ValidationIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params?: Record<string, unknown>;
}

const LOCATIONS: Record<string, string> = {
  body: "body",
  querystring: "query parameter",
  params: "path parameter",
  headers: "header",
};

function valueAt(root: unknown, segments: string[]): unknown {
  let value = root;
  for (const segment of segments) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function shown(value: unknown): string {
  if (typeof value === "string") return quoteInput(value);
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 40 ? `${json.slice(0, 40)}…` : json;
}

/**
 * One line naming the field as the API knows it (body field, query or path parameter), the
 * value and what is wrong: `invalid tickers[0] "<x>": must be 1-20 of A-Z 0-9 . & - …`.
 */
function validationMessage(request: FastifyRequest, context: string | undefined, issue: ValidationIssue) {
  const where = LOCATIONS[context ?? ""] ?? "input";
  const segments = issue.instancePath.split("/").filter(Boolean);
  if (issue.keyword === "unrecognized_keys") {
    const keys = (issue.params?.keys as string[] | undefined) ?? [];
    return `unknown ${where === "body" ? "field" : where} ${keys.map((k) => quoteInput(k)).join(", ")}`;
  }
  const field = segments.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
  const source = { body: request.body, querystring: request.query, params: request.params }[context ?? ""];
  const value = valueAt(source, segments);
  if (value === undefined && segments.length > 0) return `missing ${where} ${field}`;
  if (segments.length === 0) return `invalid ${where}: ${issue.message ?? "invalid"}`;
  return `invalid ${field} ${shown(value)}: ${issue.message ?? "invalid"}`;
}

function bodyFor(error: unknown, request: FastifyRequest): { status: number; code: string; message: string } {
  if (error instanceof ApiError)
    return { status: error.statusCode, code: error.code, message: error.message };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation as unknown as ValidationIssue[];
    // A misspelt field ("ticker") explains the missing one ("tickers"): report it first.
    const first = issues.find((i) => i.keyword === "unrecognized_keys") ?? issues[0];
    const context = (error as { validationContext?: string }).validationContext;
    return {
      status: 400,
      code: "bad_request",
      message: first ? validationMessage(request, context, first) : "invalid request",
    };
  }
  if (error instanceof UsageError) return { status: 400, code: "bad_request", message: error.message };
  if (error instanceof DailyBudgetExhaustedError) {
    return { status: 429, code: "budget_exhausted", message: error.message };
  }
  // "Redis at host:port is unreachable: …": the address, never the URL's credentials.
  if (error instanceof ServiceUnreachableError) {
    return { status: 503, code: "unavailable", message: error.message };
  }
  if (isTransientDbError(error)) {
    return { status: 503, code: "unavailable", message: "the database is unavailable; try again" };
  }
  // Fastify's own 4xx (malformed JSON, wrong content type, body too large) carry safe messages.
  const status = (error as FastifyError).statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    const code =
      status === 415 ? "unsupported_media_type" : status === 413 ? "payload_too_large" : "bad_request";
    return { status, code, message: (error as Error).message };
  }
  return { status: 500, code: "internal", message: "internal error; see the server log" };
}

/** Every error becomes `{"error", "message"}`; stacks go to the log, never to the client. */
export function apiErrorHandler(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, code, message } = bodyFor(error, request);
    if (status >= 500)
      logger.error({ err: error, method: request.method, url: request.url }, "request failed");
    else logger.debug({ status, code, url: request.url }, message);
    return reply.code(status).type("application/json; charset=utf-8").send({ error: code, message });
  };
}

export function apiNotFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  return reply.code(404).send({
    error: "not_found",
    message: `no route ${request.method} ${request.url.split("?")[0]?.slice(0, 200)}`,
  });
}
