#!/usr/bin/env node
/**
 * The stock-ledger command.
 *
 * In a checkout (src/cli/main.ts present) it runs JavaScript compiled from src/ by esbuild, and never
 * a stale one: the build lives in dist/esbuild/<key>/, where <key> hashes this file, tsconfig.json and
 * the path and content of every src/**.ts. A key with no build yet (the first run, or src/ edited
 * since) is built first — about half a second, transpiling only (`npm run typecheck` checks types) —
 * into a temporary directory renamed into place, so concurrent first runs never load a half-written
 * build. No manual build step, and no TypeScript compiler in the process when the build is fresh.
 *
 * In a built image (no src/cli/main.ts: the Dockerfile) it runs dist/src/cli/main.js (`npm run build`).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const source = path.join(root, "src", "cli", "main.ts");
const builds = path.join(root, "dist", "esbuild");
/** Builds kept besides the one in use (a worker started before an edit may still load from its own). */
const KEEP_BUILDS = 3;

/** Every .ts under src/ (relative, "/"-separated, sorted); dotfiles such as editor lock files skipped. */
function sourceFiles(dir = "src") {
  const files = [];
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...sourceFiles(relative));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(relative);
  }
  return files.sort();
}

/** The build's key: content, not timestamps, so an edit within the file system's mtime granularity counts. */
function buildKey(files) {
  const hash = createHash("sha1");
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  hash.update(readFileSync(path.join(root, "tsconfig.json")));
  for (const file of files) {
    hash.update(`\0${file}\0`);
    hash.update(readFileSync(path.join(root, file)));
  }
  return hash.digest("hex").slice(0, 20);
}

function fail(message) {
  process.stderr.write(`stock-ledger: ${message}\n`);
  process.exit(1);
}

async function build(files, target) {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    fail("cannot compile src/: the esbuild package is missing (run `npm ci`)");
  }
  const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(temp, { recursive: true });
  try {
    await (esbuild.build ?? esbuild.default.build)({
      absWorkingDir: root,
      entryPoints: files,
      outbase: root,
      outdir: temp,
      format: "esm",
      platform: "node",
      target: "node20",
      // Maps beside the files: `node --enable-source-maps` (or NODE_OPTIONS) points traces at src/.
      sourcemap: "linked",
      logLevel: "silent",
    });
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    const first = error?.errors?.[0];
    const where = first?.location
      ? `${first.location.file}:${first.location.line}:${first.location.column}: `
      : "";
    fail(`cannot compile src/: ${where}${first?.text ?? error?.message ?? error}`);
  }
  try {
    renameSync(temp, target);
  } catch (error) {
    // Another process renamed the same build into place first: its copy is as good as ours.
    rmSync(temp, { recursive: true, force: true });
    if (!existsSync(target)) throw error;
  }
  prune(path.basename(target));
}

/** Drops all but the newest builds, and temporary directories an interrupted build left behind. */
function prune(current) {
  try {
    const dirs = readdirSync(builds)
      .filter((name) => name !== current)
      .map((name) => ({ name, mtime: statSync(path.join(builds, name)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    const finished = dirs.filter((d) => !d.name.includes(".tmp-"));
    const abandoned = dirs.filter((d) => d.name.includes(".tmp-") && d.mtime < Date.now() - 10 * 60_000);
    for (const dir of [...finished.slice(KEEP_BUILDS), ...abandoned])
      rmSync(path.join(builds, dir.name), { recursive: true, force: true });
  } catch {
    // Pruning is housekeeping; a concurrent run may be doing the same.
  }
}

async function compiledEntry() {
  const files = sourceFiles();
  const target = path.join(builds, buildKey(files));
  const entry = path.join(target, "src", "cli", "main.js");
  if (existsSync(entry)) return entry;
  try {
    await build(files, target);
  } catch (error) {
    // A read-only checkout cannot hold dist/: run the sources through tsx instead (slower start).
    if (!["EACCES", "EPERM", "EROFS"].includes(error?.code)) throw error;
    return null;
  }
  return entry;
}

if (existsSync(source)) {
  const entry = await compiledEntry();
  if (entry) await import(pathToFileURL(entry).href);
  else {
    const { register } = await import("tsx/esm/api");
    register();
    await import(pathToFileURL(source).href);
  }
} else {
  await import(pathToFileURL(path.join(root, "dist", "src", "cli", "main.js")).href);
}
