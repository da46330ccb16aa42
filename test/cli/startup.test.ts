import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/paths.js";

/**
 * bin/stock-ledger.js runs JavaScript compiled from src/ into dist/esbuild/<key>/, rebuilt when
 * src/ changes. Checked on a copy of the project (bin, src, package.json, tsconfig.json) whose
 * node_modules holds links to every installed package except tsx: a CLI that needed tsx would fail.
 */
let dir: string;
const version = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")).version as string;
const DESCRIPTION = "LLM token and cost ledger for six-stage Gemini stock analyses";
// Same length as DESCRIPTION: the edit changes the content, not the size.
const EDITED = "LLM token and cost LEDGER for six-stage Gemini stock analyses";

function run(args: string[]) {
  const result = spawnSync(process.execPath, [path.join(dir, "bin", "stock-ledger.js"), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn" },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const builds = () => readdirSync(path.join(dir, "dist", "esbuild")).sort();
const linkPackage = (name: string) =>
  symlinkSync(path.join(projectRoot, "node_modules", name), path.join(dir, "node_modules", name));

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "stock-ledger-startup-"));
  for (const item of ["bin", "src", "package.json", "tsconfig.json"])
    cpSync(path.join(projectRoot, item), path.join(dir, item), { recursive: true });
  mkdirSync(path.join(dir, "node_modules"));
  for (const name of readdirSync(path.join(projectRoot, "node_modules")))
    if (name !== "tsx" && name !== ".bin") linkPackage(name);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the compiled CLI", () => {
  it("builds on first run and runs without tsx", () => {
    const result = run(["--version"]);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
    expect(builds()).toHaveLength(1);
    const [build] = builds();
    expect(
      statSync(path.join(dir, "dist", "esbuild", build as string, "src", "cli", "main.js")).isFile(),
    ).toBe(true);
  });

  it("reuses a fresh build without compiling: esbuild is not even needed", () => {
    const before = builds();
    unlinkSync(path.join(dir, "node_modules", "esbuild"));
    const result = run(["--help"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(DESCRIPTION);
    expect(builds()).toEqual(before);
  });

  it("rebuilds after src/ changes, even when the edit keeps the file's size and mtime", () => {
    const file = path.join(dir, "src", "cli", "main.ts");
    const { atime, mtime } = statSync(file);
    const text = readFileSync(file, "utf8");
    expect(text).toContain(DESCRIPTION);
    writeFileSync(file, text.replace(DESCRIPTION, EDITED));
    utimesSync(file, atime, mtime);

    // Still without esbuild: a CLI that ignored the edit would run the old build and exit 0.
    const refused = run(["--help"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "stock-ledger: cannot compile src/: the esbuild package is missing (run `npm ci`)\n",
    );

    linkPackage("esbuild");
    const result = run(["--help"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(EDITED);
    expect(result.stdout).not.toContain(DESCRIPTION);
    expect(builds()).toHaveLength(2);
  });

  it("runs dist/src/cli/main.js where there are no sources, as the Docker image does", () => {
    const [build] = builds();
    cpSync(path.join(dir, "dist", "esbuild", build as string, "src"), path.join(dir, "dist", "src"), {
      recursive: true,
    });
    // The image keeps only the dashboard's static files of src/.
    rmSync(path.join(dir, "src", "cli"), { recursive: true });
    unlinkSync(path.join(dir, "node_modules", "esbuild"));
    const result = run(["--version"]);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
  });
});
