import { readFile } from "node:fs/promises";
import path from "node:path";
import type { FastifyPluginAsync } from "fastify";
import { projectRoot } from "../../paths.js";

export const DASHBOARD_DIR = path.join(projectRoot, "src", "api", "dashboard");

const ASSETS = [
  { url: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { url: "/dashboard.js", file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  { url: "/dashboard.css", file: "dashboard.css", type: "text/css; charset=utf-8" },
];

/**
 * Scripts only from this origin and no inline script at all: even if some text slipped
 * past the page's escaping, the browser would not run it.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  // The analysis view frames the analysis' HTML report (same origin, sandboxed).
  "frame-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join("; ");

/** The dashboard: one HTML page, one script, one stylesheet, read once at start; no build step. */
export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  for (const asset of ASSETS) {
    const body = await readFile(path.join(DASHBOARD_DIR, asset.file));
    app.get(asset.url, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(asset.type)
        .header("cache-control", "no-cache")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .send(body),
    );
  }
};
