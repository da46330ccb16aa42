import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPORT_CSP_HEADER } from "../../src/report/render-html.js";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { createPipelineHarness, type PipelineHarness } from "../helpers/pipeline-harness.js";
import { analyse } from "../report/report-fixtures.js";
import { type ApiHarness, startApiHarness } from "./api-harness.js";

/** GET /analyses/:id/report: the `report` command over HTTP, on an analysis the real pipeline made. */

let h: PipelineHarness;
let api: ApiHarness;
let row: AnalysisRow;

beforeAll(async () => {
  h = await createPipelineHarness({ charts: true });
  api = await startApiHarness({ db: h.db });
  row = await analyse(h, "TCS", { faults: [{ kind: "server_error", callType: "reversal_patterns" }] });
}, 60_000);
afterAll(async () => {
  await api?.close();
  await h?.close();
});

describe("GET /analyses/:id/report", () => {
  it("answers Markdown by default (charts left out, with a note)", async () => {
    const response = await api.app.inject({ url: `/analyses/${row.id}/report` });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toBe("text/markdown; charset=utf-8");
    expect(response.headers["cache-control"]).toBe("no-store");
    expect(response.body).toMatch(/^# TCS — analysis /);
    expect(response.body).toContain("- **Status:** partial");
    expect(response.body).toContain(
      "- **reversal_patterns:** failed after 3 attempts; last: server_error (attempt 3)",
    );
    expect(response.body).toContain(
      "Charts are not part of the Markdown report over HTTP: `?format=html` embeds",
    );
    expect(response.body).not.toContain("data:image");
    const explicit = await api.app.inject({ url: `/analyses/${row.id}/report?format=md` });
    expect(explicit.body).toBe(response.body);
  });

  it("answers HTML with the charts embedded and its Content-Security-Policy as a header too", async () => {
    const response = await api.app.inject({ url: `/analyses/${row.id}/report?format=html` });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(response.headers["content-security-policy"]).toBe(REPORT_CSP_HEADER);
    expect(REPORT_CSP_HEADER).toMatch(
      /^default-src 'none'; img-src data:; style-src 'sha256-[^']+'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'$/,
    );
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
    expect(response.headers["referrer-policy"]).toBe("no-referrer");
    expect(response.body).toMatch(/^<!doctype html>/);
    expect(response.body.match(/<img [^>]*src="data:image\/png;base64,/g)).toHaveLength(4);
    expect(/<script/i.test(response.body)).toBe(false);
  });

  it("404 with the API's JSON error for an unknown analysis", async () => {
    const response = await api.app.inject({ url: "/analyses/nope-1/report?format=html" });
    expect(response.statusCode).toBe(404);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    expect(response.json()).toEqual({ error: "not_found", message: "analysis nope-1 not found" });
  });

  it("400 for a bad format, a bad id or an unknown parameter", async () => {
    const format = await api.app.inject({ url: `/analyses/${row.id}/report?format=pdf` });
    expect(format.statusCode).toBe(400);
    expect(format.json()).toMatchObject({
      error: "bad_request",
      message: expect.stringMatching(/^invalid format "pdf": /),
    });
    const id = await api.app.inject({ url: "/analyses/007/report" });
    expect(id.statusCode).toBe(400);
    expect(id.json()).toMatchObject({
      error: "bad_request",
      message: expect.stringMatching(/^invalid id "007": /),
    });
    const unknown = await api.app.inject({ url: `/analyses/${row.id}/report?fmt=html` });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ error: "bad_request", message: 'unknown query parameter "fmt"' });
  });
});
