import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { isDroppedTypeFetchRejection } from "../../src/store/database.js";

// postgres.js' own array-type query, as its ReadyForQuery runs it on every new connection.
const TYPE_FETCH_QUERY = `
      select b.oid, b.typarray
      from pg_catalog.pg_type a
      left join pg_catalog.pg_type b on b.oid = a.typelem
      where a.typcategory = 'A'
      group by b.oid, b.typarray
      order by b.oid
    `;

/** A process with the guard installed that leaves `rejection` unhandled, then ends on its own. */
function runWithGuard(rejection: string) {
  const script = `
    import { guardTypeFetchRejections } from "./src/store/database.ts";
    guardTypeFetchRejections();
    ${rejection};
    setTimeout(() => process.stdout.write("still running"), 50);`;
  return spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    env: { ...process.env, LOG_LEVEL: "warn" },
  });
}

describe("postgres.js type-fetch rejection guard", () => {
  it("recognises only the dropped array-type fetch", () => {
    const reset = Object.assign(new Error("read ECONNRESET"), { query: TYPE_FETCH_QUERY });
    expect(isDroppedTypeFetchRejection(reset)).toBe(true);
    expect(isDroppedTypeFetchRejection(Object.assign(new Error("x"), { query: "SELECT 1" }))).toBe(false);
    expect(isDroppedTypeFetchRejection(new Error("read ECONNRESET"))).toBe(false);
    expect(isDroppedTypeFetchRejection(undefined)).toBe(false);
  });

  it("keeps the process alive for that rejection and still ends it for any other", () => {
    const dropped = runWithGuard(
      `Promise.reject(Object.assign(new Error("read ECONNRESET"), { query: ${JSON.stringify(TYPE_FETCH_QUERY)} }))`,
    );
    expect(dropped.status).toBe(0);
    expect(dropped.stdout).toContain("still running");
    expect(dropped.stderr).toContain("postgres.js type fetch failed");

    const other = runWithGuard(`Promise.reject(new Error("something else"))`);
    expect(other.status).not.toBe(0);
    expect(other.stdout).not.toContain("still running");
    expect(other.stderr).toContain("something else");
  });
});
