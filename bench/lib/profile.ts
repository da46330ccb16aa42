/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time by function and by package or
 * source folder, from the samples (a sample's time is the gap to the next one).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../src/paths.js";
import { fmt } from "./report.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function shortUrl(url: string): string {
  const local = url.replace(/^file:\/\//, "").replace(`${projectRoot}/`, "");
  const nm = local.lastIndexOf("node_modules/");
  return nm >= 0 ? local.slice(nm + "node_modules/".length) : local;
}

export function groupOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native/V8 builtins)";
  if (url.startsWith("node:")) return "node: core";
  const local = url.replace(/^file:\/\//, "").replace(`${projectRoot}/`, "");
  const nm = local.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const parts = local.slice(nm + "node_modules/".length).split("/");
    return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? local);
  }
  const parts = local.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : local;
}

export interface ProfileSummary {
  totalMs: number;
  functions: [string, number][];
  groups: [string, number][];
}

/** Self time (ms) per function and per group, for samples taken `skipMs` after the profile began. */
export function summarizeProfile(file: string, skipMs = 0): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const functions = new Map<string, number>();
  const groups = new Map<string, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const spent = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (t - profile.startTime < skipMs * 1000) continue;
    const node = byId.get(profile.samples[i] ?? -1);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    // tsx-compiled sources report line 1 for everything: the line is shown only when it means something.
    const line = lineNumber > 0 ? `:${lineNumber + 1}` : "";
    const name = `${functionName || "(anonymous)"}${url ? ` ${shortUrl(url)}${line}` : ""}`;
    functions.set(name, (functions.get(name) ?? 0) + spent);
    const group = groupOf(url, functionName);
    groups.set(group, (groups.get(group) ?? 0) + spent);
    total += spent;
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs: total, functions: sorted(functions), groups: sorted(groups) };
}

/** The newest main-thread profile in a directory (or the file itself). */
function newestProfile(dir: string): string | undefined {
  const files = (dir.endsWith(".cpuprofile") ? [dir] : readdirSync(dir))
    .filter((f) => (dir.endsWith(".cpuprofile") ? true : /\.\d+\.0\.\d+\.cpuprofile$/.test(f)))
    .map((f) => (path.isAbsolute(f) ? f : path.join(dir, f)))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return files[0];
}

/**
 * Self time per analysis by package / source folder in two profiles (baseline worker and
 * stock-ledger worker over the same number of analyses), side by side with the difference.
 */
export function compareProfiles(
  baseline: { dir: string; skipMs: number },
  product: { dir: string; skipMs: number },
  analyses: number,
): string[] {
  const a = newestProfile(baseline.dir);
  const b = newestProfile(product.dir);
  if (!a || !b) return ["no profiles to compare"];
  const sa = summarizeProfile(a, baseline.skipMs);
  const sb = summarizeProfile(b, product.skipMs);
  const ga = new Map(sa.groups);
  const gb = new Map(sb.groups);
  const keys = [...new Set([...ga.keys(), ...gb.keys()])].sort(
    (x, y) => (gb.get(y) ?? 0) - (ga.get(y) ?? 0) - ((gb.get(x) ?? 0) - (ga.get(x) ?? 0)),
  );
  const per = (ms: number | undefined) => fmt((ms ?? 0) / analyses, 2).padStart(7);
  return [
    `profiled self time, CPU ms per analysis (baseline → stock-ledger, difference), largest differences first; totals ${per(sa.totalMs)} → ${per(sb.totalMs)}:`,
    ...keys
      .slice(0, 18)
      .map(
        (k) =>
          `  ${per(ga.get(k))} → ${per(gb.get(k))}  (${(gb.get(k) ?? 0) - (ga.get(k) ?? 0) >= 0 ? "+" : ""}${fmt(((gb.get(k) ?? 0) - (ga.get(k) ?? 0)) / analyses, 2)})  ${k}`,
      ),
  ];
}

/**
 * A profile file, or the newest main-thread profile in a directory, summarised as text lines.
 * Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main
 * thread (tsx's module loader thread writes its own, mostly idle, profile).
 */
export function summarizeProfiles(dir: string, options: { skipMs?: number; top?: number } = {}): string {
  const file = newestProfile(dir);
  if (!file) return `no .cpuprofile in ${dir}`;
  const summary = summarizeProfile(file, options.skipMs ?? 0);
  const pct = (ms: number) => `${fmt((100 * ms) / Math.max(1, summary.totalMs))}%`;
  const top = options.top ?? 25;
  return [
    `CPU profile ${file} (busy ${fmt(summary.totalMs, 0)} ms after skipping the first ${fmt(options.skipMs ?? 0, 0)} ms)`,
    "self time by package / source folder:",
    ...summary.groups
      .slice(0, 15)
      .map(([g, ms]) => `  ${pct(ms).padStart(6)} ${fmt(ms, 0).padStart(7)} ms  ${g}`),
    `top ${top} functions by self time:`,
    ...summary.functions
      .slice(0, top)
      .map(([f, ms]) => `  ${pct(ms).padStart(6)} ${fmt(ms, 0).padStart(7)} ms  ${f}`),
  ].join("\n");
}
