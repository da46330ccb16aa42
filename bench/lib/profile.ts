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

function shortUrl(url: string): string {
  const local = url.replace(/^file:\/\//, "").replace(`${projectRoot}/`, "");
  const nm = local.lastIndexOf("node_modules/");
  return nm >= 0 ? local.slice(nm + "node_modules/".length) : local;
}

function groupOf(url: string, functionName: string): string {
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
    const name = `${functionName || "(anonymous)"}${url ? ` ${shortUrl(url)}:${lineNumber + 1}` : ""}`;
    functions.set(name, (functions.get(name) ?? 0) + spent);
    const group = groupOf(url, functionName);
    groups.set(group, (groups.get(group) ?? 0) + spent);
    total += spent;
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs: total, functions: sorted(functions), groups: sorted(groups) };
}

/**
 * A profile file, or the newest main-thread profile in a directory, summarised as text lines.
 * Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main
 * thread (tsx's module loader thread writes its own, mostly idle, profile).
 */
export function summarizeProfiles(dir: string, options: { skipMs?: number; top?: number } = {}): string {
  const files = (dir.endsWith(".cpuprofile") ? [dir] : readdirSync(dir))
    .filter((f) => (dir.endsWith(".cpuprofile") ? true : /\.\d+\.0\.\d+\.cpuprofile$/.test(f)))
    .map((f) => (path.isAbsolute(f) ? f : path.join(dir, f)))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const file = files[0];
  if (!file) return `no .cpuprofile in ${dir}`;
  const summary = summarizeProfile(file, options.skipMs ?? 0);
  const pct = (ms: number) => `${fmt((100 * ms) / Math.max(1, summary.totalMs))}%`;
  const top = options.top ?? 25;
  return [
    `CPU profile ${file} (busy ${fmt(summary.totalMs, 0)} ms after skipping the first ${fmt(options.skipMs ?? 0, 0)} ms)`,
    "self time by package / source folder:",
    ...summary.groups.slice(0, 15).map(([g, ms]) => `  ${pct(ms).padStart(6)} ${fmt(ms, 0).padStart(7)} ms  ${g}`),
    `top ${top} functions by self time:`,
    ...summary.functions.slice(0, top).map(([f, ms]) => `  ${pct(ms).padStart(6)} ${fmt(ms, 0).padStart(7)} ms  ${f}`),
  ].join("\n");
}
