import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { logger } from "../../src/logger.js";
import { projectRoot } from "../../src/paths.js";
import { createSql, splitDatabaseUrl } from "../../src/store/database.js";
import { migrate } from "../../src/store/migrate.js";
import { PG_SERVER, uniqueName } from "../helpers/services.js";

const url = `${PG_SERVER}/${uniqueName("sl_migrate")}`;

afterAll(async () => {
  const { name, maintenanceUrl } = splitDatabaseUrl(url);
  const admin = createSql(maintenanceUrl, { max: 1 });
  await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
});

describe("migrate", () => {
  it("creates the database, is safe from two processes at once and safe to run twice", async () => {
    const [first, second] = await Promise.all([migrate(url, logger), migrate(url, logger)]);
    // Exactly one of the concurrent runs applied the files; the other found them applied.
    const files = (await readdir(path.join(projectRoot, "sql"))).filter((f) => f.endsWith(".sql")).sort();
    expect(files[0]).toBe("001_init.sql");
    expect([...(first ?? []), ...(second ?? [])]).toEqual(files);
    expect(await migrate(url, logger)).toEqual([]);

    const sql = createSql(url, { max: 1 });
    try {
      const columns = await sql<{ column_name: string; data_type: string }[]>`
        SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'stock_analyses'`;
      const types = Object.fromEntries(columns.map((c) => [c.column_name, c.data_type]));
      // The seed's columns, exactly.
      expect(types).toMatchObject({
        total_input_tokens: "integer",
        total_output_tokens: "integer",
        total_tokens: "integer",
        llm_calls_count: "integer",
        token_usage_breakdown: "jsonb",
        cost_usd: "numeric",
        thinking_tokens: "bigint",
      });
      const [{ count }] = (await sql`SELECT count(*)::int AS count FROM schema_migrations`) as unknown as [
        { count: number },
      ];
      expect(count).toBe(files.length);
    } finally {
      await sql.end();
    }
  });
});
