import type { TestProject } from "vitest/node";
import { hasPgBouncer, type PgBouncerHandle, startPgBouncer } from "./pgbouncer.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** postgres://…@127.0.0.1:<port> of the "pgbouncer" project's PgBouncer. */
    pgBouncerServer: string;
  }
}

/**
 * vitest globalSetup of the "pgbouncer" project: one PgBouncer in transaction pooling in front
 * of the local PostgreSQL for the whole run. Its address reaches that project's test files only
 * (provide/inject; test/helpers/services.ts reads it), never the other projects'.
 */
let bouncer: PgBouncerHandle | undefined;

export async function setup(project: TestProject): Promise<void> {
  if (!hasPgBouncer())
    throw new Error("pgbouncer is not installed: `apt-get install pgbouncer` (.ci/run does)");
  bouncer = await startPgBouncer();
  project.provide("pgBouncerServer", bouncer.server);
}

export async function teardown(): Promise<void> {
  await bouncer?.close();
}
