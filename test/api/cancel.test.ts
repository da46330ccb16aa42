import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnalysisRow } from "../../src/store/analyses-repo.js";
import { type ApiHarness, securedApi, startApiHarness } from "./api-harness.js";

const TOKEN = "cancel-test-token-0123456789abcdef";
let api: ApiHarness;
let securedApp: FastifyInstance;

beforeAll(async () => {
  api = await startApiHarness();
  // A second server on the same database and queue, with API_TOKEN set.
  securedApp = await securedApi(api, TOKEN);
});

afterAll(async () => {
  await securedApp?.close();
  await api?.close();
});

const cancel = (id: string, app = api.app, headers: Record<string, string> = {}) =>
  app.inject({ method: "POST", url: `/analyses/${id}/cancel`, headers });

async function queued(): Promise<string> {
  const response = await api.app.inject({ method: "POST", url: "/analyses", payload: { tickers: ["TCS"] } });
  return response.json().analyses[0].id;
}

describe("POST /analyses/{id}/cancel", () => {
  it("cancels a queued analysis: 200 as `cancel --json`, the analysis failed/cancelled, its job gone", async () => {
    const id = await queued();
    expect(await api.queue.getJob(id)).toBeDefined();
    const response = await cancel(id);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ id, status: "failed", withdrawn_requests: 0, cancelled_batches: 0 });
    const [row] = await api.db.sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ${id}`;
    expect(row).toMatchObject({ status: "failed", error: "cancelled", llm_calls_count: 0 });
    expect(await api.queue.getJob(id)).toBeUndefined();
  });

  it("answers 409 for an ended analysis and 404 for an unknown one", async () => {
    const id = await queued();
    expect((await cancel(id)).statusCode).toBe(200);
    const ended = await cancel(id);
    expect(ended.statusCode).toBe(409);
    expect(ended.json()).toEqual({
      error: "conflict",
      message: `analysis ${id} already ended (status failed)`,
    });
    const unknown = await cancel("nope-1");
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: "not_found", message: "analysis nope-1 not found" });
    expect((await cancel("007")).statusCode).toBe(400);
  });

  it("answers 409 while a run holds the analysis, and leaves it to the run", async () => {
    const id = await queued();
    await api.db.sql`
      UPDATE stock_analyses SET status = 'running', lease_owner = 'a-worker-run',
        lease_expires_at = now() + interval '1 minute'
      WHERE id = ${id}`;
    const response = await cancel(id);
    expect(response.statusCode).toBe(409);
    expect(response.json().message).toBe(
      `analysis ${id} is running (a worker holds it); it cannot be cancelled now`,
    );
    const [row] = await api.db.sql<AnalysisRow[]>`SELECT * FROM stock_analyses WHERE id = ${id}`;
    expect(row).toMatchObject({ status: "running", lease_owner: "a-worker-run" });
  }, 20_000);

  it("needs the bearer token when API_TOKEN is set", async () => {
    const id = await queued();
    expect((await cancel(id, securedApp)).statusCode).toBe(401);
    const [row] = await api.db.sql<AnalysisRow[]>`SELECT status FROM stock_analyses WHERE id = ${id}`;
    expect(row?.status).toBe("queued");
    const allowed = await cancel(id, securedApp, { authorization: `Bearer ${TOKEN}` });
    expect(allowed.statusCode).toBe(200);
  });
});
