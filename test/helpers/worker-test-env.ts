import { afterAll, beforeAll } from "vitest";
import { type EmulatorHandle, type EmulatorOptions, startEmulator } from "../../src/llm/emulator/index.js";
import { createTestDatabase, dropQueueKeys, type TestDatabase, uniqueName } from "./services.js";

/**
 * A test file's own database, emulator and queue prefix, made before its tests and removed
 * after, for files that run workers in process. Call once at the top of the file.
 */
export function workerTestEnv(
  stem: string,
  emulatorOptions: EmulatorOptions,
): { readonly db: TestDatabase; readonly emulator: EmulatorHandle; readonly prefix: string } {
  const prefix = uniqueName(stem);
  let db: TestDatabase | undefined;
  let emulator: EmulatorHandle | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    emulator = await startEmulator(emulatorOptions);
  });
  afterAll(async () => {
    await emulator?.close();
    await db?.drop();
    await dropQueueKeys(prefix);
  });
  const made = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("workerTestEnv: used before its beforeAll ran");
    return value;
  };
  return {
    prefix,
    get db() {
      return made(db);
    },
    get emulator() {
      return made(emulator);
    },
  };
}
