import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./errors.js";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * An onRequest hook requiring `Authorization: Bearer <token>`. It runs before body
 * validation, so a caller without the token learns nothing about the input rules. Both
 * sides are hashed first so the comparison is constant-time whatever the lengths.
 */
export function requireBearerToken(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    const match = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    const problem = !match?.[1]
      ? "this endpoint needs an Authorization: Bearer <API_TOKEN> header"
      : timingSafeEqual(digest(match[1]), expected)
        ? null
        : "the bearer token is not valid";
    if (problem) {
      reply.header("www-authenticate", 'Bearer realm="stock-ledger"');
      throw new ApiError(401, "unauthorized", problem);
    }
  };
}
