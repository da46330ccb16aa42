import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSql } from "../../src/store/database.js";
import { createTestDatabase, DATABASE_POOLING, PG_SERVER, type TestDatabase } from "../helpers/services.js";

/**
 * Runs in the "pgbouncer" project too, where PG_SERVER is a PgBouncer in transaction pooling:
 * there, this proves the suites really go through it and why the ledger sends no prepared statements.
 */
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

describe.runIf(DATABASE_POOLING === "transaction")("behind PgBouncer in transaction pooling", () => {
  it("reaches PostgreSQL through the pooler, not on 5432", () => {
    expect(new URL(PG_SERVER).port).not.toBe("5432");
  });

  it("each transaction may land on another server connection: session state does not follow", async () => {
    const sql = createSql(db.url, { max: 1, pooling: "transaction" });
    try {
      const pids = new Set<number>();
      // Two clients keep the pooler's two server connections busy in turn.
      const other = createSql(db.url, { max: 1, pooling: "transaction" });
      for (let i = 0; i < 20; i++) {
        const [[a], [b]] = await Promise.all([
          sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.01)`,
          other<{ pid: number }[]>`SELECT pg_backend_pid() AS pid, pg_sleep(0.01)`,
        ]);
        pids.add(a?.pid ?? 0).add(b?.pid ?? 0);
      }
      await other.end();
      expect(pids.size).toBeGreaterThan(1);
    } finally {
      await sql.end();
    }
  });

  it("the ledger's own queries run with prepared statements off, many times over", async () => {
    const sql = createSql(db.url, { max: 4, pooling: "transaction" });
    try {
      const rows = await Promise.all(
        Array.from({ length: 200 }, (_, i) => sql<{ n: number }[]>`SELECT ${i}::int AS n`),
      );
      expect(rows.map(([r]) => r?.n)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    } finally {
      await sql.end();
    }
  });
});

describe.runIf(DATABASE_POOLING === "session")("on a direct connection", () => {
  it("talks to PostgreSQL itself", async () => {
    const [row] = await db.sql<{ ok: number }[]>`SELECT 1 AS ok`;
    expect(row?.ok).toBe(1);
  });
});
