import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, runCli, startCli } from "../helpers/cli.js";
import {
  createTestDatabase,
  dropQueueKeys,
  QUEUE_BACKEND,
  REDIS_URL,
  type TestDatabase,
  uniqueName,
} from "../helpers/services.js";

let db: TestDatabase;
const prefix = uniqueName("sl-test-serve");
const TOKEN = "serve-test-token-0123456789";

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
  await dropQueueKeys(prefix);
});

const env = () => ({
  DATABASE_URL: db.url,
  REDIS_URL,
  QUEUE_BACKEND,
  QUEUE_PREFIX: prefix,
  API_TOKEN: TOKEN,
});

describe("stock-ledger serve", () => {
  it("serves on 127.0.0.1, requires the token on POST and stops cleanly on SIGTERM", async () => {
    const port = await freePort();
    const server = await startCli(["serve", "--port", String(port)], env(), /listening on http:\/\/\S+/);
    try {
      expect(server.output()).toContain(`stock-ledger API listening on http://127.0.0.1:${port}`);
      const base = `http://127.0.0.1:${port}`;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/`)).headers.get("content-type")).toBe("text/html; charset=utf-8");

      const body = JSON.stringify({ tickers: ["TCS"], id: "serve-1" });
      const headers = { "content-type": "application/json" };
      const refused = await fetch(`${base}/analyses`, { method: "POST", body, headers });
      expect(refused.status).toBe(401);
      const accepted = await fetch(`${base}/analyses`, {
        method: "POST",
        body,
        headers: { ...headers, authorization: `Bearer ${TOKEN}` },
      });
      expect(accepted.status).toBe(202);
      expect(await accepted.json()).toEqual({ analyses: [{ id: "serve-1", ticker: "TCS" }] });

      const taken = await runCli(["serve", "--port", String(port)], env());
      expect(taken.code).toBe(1);
      expect(taken.stderr).toBe(`stock-ledger: port ${port} on 127.0.0.1 is already in use\n`);
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0);
    }
  });

  it.each([
    [["--port", "http"], 'stock-ledger: invalid port "http": must be a whole number from 0 to 65535\n'],
    [
      ["--host", "my host"],
      'stock-ledger: invalid host "my host": use an address such as 127.0.0.1 or 0.0.0.0\n',
    ],
  ])("refuses %j with exit 2 and one line", async (args, stderr) => {
    const result = await runCli(["serve", ...args], env());
    expect(result).toMatchObject({ code: 2, stdout: "", stderr });
  });

  it("refuses a malformed API_TOKEN with exit 2 naming the variable", async () => {
    const result = await runCli(["serve"], { ...env(), API_TOKEN: "short" });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "stock-ledger: invalid API_TOKEN: must be 16-256 printable characters without spaces\n",
    );
  });
});
