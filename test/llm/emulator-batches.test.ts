import { describe, expect, it } from "vitest";
import { BatchEndError, type BatchInfo, type EmulatorHandle } from "../../src/llm/emulator/index.js";
import { emulatorPerTest, stagePrompt, textRequest } from "./emulator-helpers.js";

/** Gemini Batch Mode over plain HTTP, as Google's REST reference shapes it. */

interface Operation {
  name: string;
  done?: boolean;
  error?: { code: number; message: string };
  metadata: { name: string; displayName: string; state: string; batchStats: Record<string, string> };
  response?: {
    inlinedResponses: {
      inlinedResponses: {
        metadata?: { key?: string };
        response?: { usageMetadata?: unknown; candidates?: unknown[] };
        error?: { code: number; message: string };
      }[];
    };
  };
}

const MODEL = "gemini-2.5-flash";
const KEYS = ["AAPL", "MSFT", "NVDA"];
const requestFor = (key: string) => textRequest(stagePrompt(key, 100));

const { start } = emulatorPerTest();

async function call<T>(url: string, init?: { method?: string; body?: unknown }): Promise<T> {
  const response = await fetch(url, {
    method: init?.method ?? "GET",
    ...(init?.body !== undefined
      ? { body: JSON.stringify(init.body), headers: { "content-type": "application/json" } }
      : {}),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

function createBatch(emulator: EmulatorHandle, displayName: string, metadata: Record<string, unknown> = {}) {
  return call<Operation>(`${emulator.url}/v1beta/models/${MODEL}:batchGenerateContent`, {
    method: "POST",
    body: {
      batch: {
        display_name: displayName,
        input_config: {
          requests: {
            requests: KEYS.map((key) => ({ request: requestFor(key), metadata: { key, ...metadata } })),
          },
        },
      },
    },
  });
}

const getBatch = (emulator: EmulatorHandle, name: string) =>
  call<Operation>(`${emulator.url}/v1beta/${name}`);

/** Polls until the batch is done, as a client would. */
async function settled(emulator: EmulatorHandle, name: string): Promise<Operation> {
  for (;;) {
    const operation = await getBatch(emulator, name);
    if (operation.done) return operation;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("emulator batch mode", () => {
  it("answers inline requests after the delay, keyed as sent, billed as generateContent", async () => {
    const emulator = await start({ batchDelayMs: 60 });
    const created = await createBatch(emulator, "nightly-1");
    expect(created.name).toMatch(/^batches\/\w+$/);
    expect(created.metadata.state).toBe("BATCH_STATE_PENDING");
    expect(created.metadata.displayName).toBe("nightly-1");
    expect(created.done).toBeUndefined();

    const done = await settled(emulator, created.name);
    expect(done.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(done.metadata.batchStats).toMatchObject({ requestCount: "3", successfulRequestCount: "3" });
    const items = done.response?.inlinedResponses.inlinedResponses ?? [];
    expect(items.map((item) => item.metadata?.key)).toEqual(KEYS);

    for (const [index, key] of KEYS.entries()) {
      const live = await call<{ usageMetadata: unknown }>(
        `${emulator.url}/v1beta/models/${MODEL}:generateContent`,
        {
          method: "POST",
          body: requestFor(key),
        },
      );
      expect(items[index]?.response?.usageMetadata).toEqual(live.usageMetadata);
    }

    const batched = emulator.requestLog().filter((entry) => entry.batch === created.name);
    const inline = batched.filter((entry) => entry.method === "generateContent");
    expect(inline).toHaveLength(3);
    expect(inline.map((entry) => entry.usageMetadata)).toEqual(
      items.map((item) => item.response?.usageMetadata),
    );
    expect(batched.some((entry) => entry.method === "batchGenerateContent")).toBe(true);
  });

  it("lists batches with their display names", async () => {
    const emulator = await start({});
    await createBatch(emulator, "first");
    const wanted = await createBatch(emulator, "second");
    const list = await call<{ operations: Operation[] }>(`${emulator.url}/v1beta/batches`);
    const found = list.operations.find((operation) => operation.metadata.displayName === "second");
    expect(found?.name).toBe(wanted.name);
    expect(list.operations).toHaveLength(2);
  });

  it("cancels a pending batch: CANCELLED, no responses, nothing generated", async () => {
    const emulator = await start({ batchDelayMs: 60_000 });
    const created = await createBatch(emulator, "to-cancel");
    await call(`${emulator.url}/v1beta/${created.name}:cancel`, { method: "POST", body: {} });
    const after = await getBatch(emulator, created.name);
    expect(after.metadata.state).toBe("BATCH_STATE_CANCELLED");
    expect(after.done).toBe(true);
    expect(after.response).toBeUndefined();
    expect(emulator.requestLog().filter((entry) => entry.method === "generateContent")).toHaveLength(0);
  });

  it("turns a fault matching one request's call type into that response's error", async () => {
    const emulator = await start({ batchDelayMs: 0 });
    const created = await call<Operation>(`${emulator.url}/v1beta/models/${MODEL}:batchGenerateContent`, {
      method: "POST",
      body: {
        batch: {
          displayName: "faulty",
          inputConfig: {
            requests: {
              requests: KEYS.map((key, index) => ({
                request: requestFor(key),
                metadata: { key, callType: index === 1 ? "volume_analysis" : "indicator_summary" },
              })),
            },
          },
        },
      },
    });
    emulator.setFaults([{ kind: "server_error", callType: "volume_analysis" }]);
    const done = await settled(emulator, created.name);
    expect(done.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(done.metadata.batchStats).toMatchObject({ successfulRequestCount: "2", failedRequestCount: "1" });
    const items = done.response?.inlinedResponses.inlinedResponses ?? [];
    expect(items[1]?.error).toMatchObject({ code: 13 });
    expect(items[1]?.response).toBeUndefined();
    expect(items[0]?.response?.usageMetadata).toBeDefined();
    expect(items[2]?.response?.usageMetadata).toBeDefined();
    const faulted = emulator.requestLog().filter((entry) => entry.batch === created.name && entry.fault);
    expect(faulted.map((entry) => [entry.callType, entry.status])).toEqual([["volume_analysis", 500]]);
  });

  it("expires a batch older than batchExpiryMs", async () => {
    const emulator = await start({ batchDelayMs: 60_000, batchExpiryMs: 30 });
    const created = await createBatch(emulator, "too-slow");
    const done = await settled(emulator, created.name);
    expect(done.metadata.state).toBe("BATCH_STATE_EXPIRED");
    expect(done.response).toBeUndefined();
  });

  it("answers 404 for an unknown batch and deletes a known one", async () => {
    const emulator = await start({});
    const missing = await fetch(`${emulator.url}/v1beta/batches/nope`);
    expect(missing.status).toBe(404);
    const created = await createBatch(emulator, "to-delete");
    await call(`${emulator.url}/v1beta/${created.name}`, { method: "DELETE" });
    expect((await fetch(`${emulator.url}/v1beta/${created.name}`)).status).toBe(404);
  });
});

interface ControlReply {
  batch?: BatchInfo;
  batches?: BatchInfo[];
  outcome?: string;
  error?: { status: string; message: string };
}

/** The /_emulator/ control routes on batches, as a test in another process uses them. */
async function control(
  url: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; json: ControlReply }> {
  const response = await fetch(url, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
      : {}),
  });
  return { status: response.status, json: (await response.json()) as ControlReply };
}

const endOver = (emulator: EmulatorHandle, name: string, body: unknown) =>
  control(`${emulator.url}/_emulator/${name}:end`, "POST", body);

describe("emulator batch control", () => {
  it("ends a pending batch FAILED over HTTP: done, the Operation's error, nothing generated", async () => {
    const emulator = await start({ batchDelayMs: 60_000 });
    const created = await createBatch(emulator, "doomed");
    const ended = await endOver(emulator, created.name, { state: "FAILED", message: "Quota gone." });
    expect(ended.status).toBe(200);
    expect(ended.json.batch).toMatchObject({
      name: created.name,
      state: "BATCH_STATE_FAILED",
      error: { code: 13, message: "Quota gone." },
    });

    const after = await getBatch(emulator, created.name);
    expect(after.done).toBe(true);
    expect(after.metadata.state).toBe("BATCH_STATE_FAILED");
    expect(after.error).toEqual({ code: 13, message: "Quota gone." });
    expect(after.response).toBeUndefined();
    expect(emulator.requestLog().filter((entry) => entry.method === "generateContent")).toHaveLength(0);
  });

  it("ends batches EXPIRED in-process and CANCELLED over HTTP; refuses done, unknown and bad endings", async () => {
    const emulator = await start({ batchDelayMs: 60_000 });
    const first = await createBatch(emulator, "expire-me");
    const second = await createBatch(emulator, "cancel-me");

    expect(emulator.endBatch(first.name, { state: "EXPIRED" })).toMatchObject({
      state: "BATCH_STATE_EXPIRED",
      error: null,
    });
    const cancelled = await endOver(emulator, second.name, { state: "BATCH_STATE_CANCELLED" });
    expect(cancelled.json.batch?.state).toBe("BATCH_STATE_CANCELLED");
    const states = (await Promise.all([first, second].map((op) => getBatch(emulator, op.name)))).map((op) => [
      op.metadata.state,
      op.done,
      op.error,
      op.response,
    ]);
    expect(states).toEqual([
      ["BATCH_STATE_EXPIRED", true, undefined, undefined],
      ["BATCH_STATE_CANCELLED", true, undefined, undefined],
    ]);

    const again = await endOver(emulator, first.name, { state: "FAILED" });
    expect([again.status, again.json.error?.status]).toEqual([409, "FAILED_PRECONDITION"]);
    expect(() => emulator.endBatch(second.name, { state: "FAILED" })).toThrow(BatchEndError);
    expect((await endOver(emulator, "batches/nope", { state: "FAILED" })).status).toBe(404);
    const third = await createBatch(emulator, "still-pending");
    const typo = await endOver(emulator, third.name, { state: "FAIL" });
    expect([typo.status, typo.json.error?.status]).toEqual([400, "INVALID_ARGUMENT"]);
    expect((await getBatch(emulator, third.name)).done).toBeUndefined();
  });

  it("ends every new batch as batchOutcome says; changing it leaves batches already made alone", async () => {
    const emulator = await start({ batchDelayMs: 0, batchOutcome: "failed" });
    const failing = await createBatch(emulator, "failing");
    expect((await control(`${emulator.url}/_emulator/batch-outcome`, "GET")).json).toEqual({
      outcome: "failed",
    });
    const put = await control(`${emulator.url}/_emulator/batch-outcome`, "PUT", { outcome: "expired" });
    expect(put).toEqual({ status: 200, json: { outcome: "expired" } });
    const expiring = await createBatch(emulator, "expiring");
    emulator.setBatchOutcome("cancelled");
    const cancelled = await createBatch(emulator, "cancelled");

    const failed = await settled(emulator, failing.name);
    expect(failed.metadata.state).toBe("BATCH_STATE_FAILED");
    expect(failed.error).toMatchObject({ code: 13, message: expect.stringContaining("batchOutcome") });
    expect((await settled(emulator, expiring.name)).metadata.state).toBe("BATCH_STATE_EXPIRED");
    expect((await settled(emulator, cancelled.name)).metadata.state).toBe("BATCH_STATE_CANCELLED");
    expect(emulator.requestLog().filter((entry) => entry.method === "generateContent")).toHaveLength(0);
    const bad = await control(`${emulator.url}/_emulator/batch-outcome`, "PUT", { outcome: "maybe" });
    expect(bad.status).toBe(400);
  });

  it("shows every batch on /_emulator/batches with how often its display name was asked for", async () => {
    const emulator = await start({ batchDelayMs: 60_000 });
    const nightly = await createBatch(emulator, "nightly");
    // A create refused by a fault: the client asks again, and gets one batch.
    emulator.setFaults([{ kind: "server_error", method: "batchGenerateContent", times: 1 }]);
    const refused = await fetch(`${emulator.url}/v1beta/models/${MODEL}:batchGenerateContent`, {
      method: "POST",
      body: JSON.stringify({
        batch: { displayName: "retry-me", inputConfig: { requests: { requests: [] } } },
      }),
    });
    expect(refused.status).toBe(500);
    const retried = await createBatch(emulator, "retry-me");

    const { json } = await control(`${emulator.url}/_emulator/batches`, "GET");
    const batches = json.batches;
    expect(batches).toEqual(emulator.batches());
    expect(batches).toEqual([
      {
        name: nightly.name,
        displayName: "nightly",
        model: `models/${MODEL}`,
        state: "BATCH_STATE_PENDING",
        requestCount: 3,
        inputFile: null,
        responsesFile: null,
        error: null,
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        endedAt: null,
        createCount: 1,
      },
      expect.objectContaining({ name: retried.name, displayName: "retry-me", createCount: 2 }),
    ]);

    const creates = emulator.requestLog().filter((entry) => entry.method === "batchGenerateContent");
    expect(creates.map((entry) => [entry.batchDisplayName, entry.status, entry.batch])).toEqual([
      ["nightly", 200, nightly.name],
      ["retry-me", 500, null],
      ["retry-me", 200, retried.name],
    ]);
    // Only creates carry it.
    await getBatch(emulator, nightly.name);
    expect(emulator.requestLog().find((entry) => entry.method === "getBatch")).not.toHaveProperty(
      "batchDisplayName",
    );

    emulator.endBatch(nightly.name, { state: "CANCELLED" });
    const [ended] = emulator.batches();
    expect(ended?.endedAt).toMatch(/^\d{4}-/);
  });
});
