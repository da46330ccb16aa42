import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The project root (holding sql/ and data/), found from this file in src/ or dist/src/. */
function findProjectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).name === "stock-ledger")
      return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("cannot find the stock-ledger project root");
    dir = parent;
  }
}

export const projectRoot = findProjectRoot();
