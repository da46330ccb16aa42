/**
 * Compares two sampling heap profiles written by heap-sample-preload.mjs (the baseline worker's
 * and the stock-ledger worker's): bytes per analysis that were promoted to the old generation
 * and then freed (or were still live at the end), by where they were allocated, largest
 * difference first. A V8 builtin's allocation (no source) counts under the package of its nearest caller
 * that has a source.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { groupOf, shortUrl } from "./profile.js";
import { fmt } from "./report.js";

interface HeapNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: HeapNode[];
}

interface HeapBytes {
  bySite: Map<string, number>;
  byGroup: Map<string, number>;
  total: number;
}

const add = (map: Map<string, number>, key: string, bytes: number) =>
  map.set(key, (map.get(key) ?? 0) + bytes);

/** Bytes by allocation site and by package or source folder, from the newest profile in `dir`. */
export function heapBytes(dir: string): HeapBytes {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith(".heapprofile"))
    .sort()
    .at(-1);
  if (!file) throw new Error(`no .heapprofile in ${dir}`);
  const { head } = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as { head: HeapNode };
  const result: HeapBytes = { bySite: new Map(), byGroup: new Map(), total: 0 };
  const walk = (node: HeapNode, sourced: HeapNode | undefined) => {
    const frame = node.callFrame.url === "" ? sourced : node;
    if (node.selfSize > 0) {
      result.total += node.selfSize;
      const own = node.callFrame;
      const { functionName, url } = (frame ?? node).callFrame;
      const group = groupOf(url, functionName);
      // A builtin keeps its own name (with its caller's package): inlining moves callers around.
      const site =
        own.url === ""
          ? `${own.functionName || "(builtin)"} (from ${group})`
          : `${own.functionName || "(anonymous)"} ${shortUrl(own.url)}`;
      add(result.bySite, site, node.selfSize);
      add(result.byGroup, group, node.selfSize);
    }
    for (const child of node.children) walk(child, frame);
  };
  walk(head, undefined);
  return result;
}

function differences(base: Map<string, number>, product: Map<string, number>) {
  return [...new Set([...base.keys(), ...product.keys()])]
    .map((key) => ({ key, base: base.get(key) ?? 0, product: product.get(key) ?? 0 }))
    .sort((a, b) => Math.abs(b.product - b.base) - Math.abs(a.product - a.base));
}

/**
 * Note lines: KB per analysis, baseline → stock-ledger, by group and by site, largest difference
 * first (the baseline's own code, bench/baseline-worker.ts, does what src/llm does for the ledger).
 */
export function compareHeapSamples(
  baselineDir: string,
  productDir: string,
  analyses: number,
  top = 10,
): string[] {
  const base = heapBytes(baselineDir);
  const product = heapBytes(productDir);
  const kb = (bytes: number) => fmt(bytes / 1024 / analyses, 1);
  const line = (d: { key: string; base: number; product: number }) =>
    `    ${kb(d.base)} → ${kb(d.product)} (${d.product >= d.base ? "+" : ""}${kb(d.product - d.base)})  ${d.key}`;
  return [
    `objects that outlived the young generation (promoted, then freed by a full GC, or live at the end; V8 sampling ` +
      `heap profiler over the whole run), KB per analysis, baseline → stock-ledger: ${kb(base.total)} → ${kb(product.total)}`,
    "  by package or source folder:",
    ...differences(base.byGroup, product.byGroup).slice(0, top).map(line),
    "  by allocating function:",
    ...differences(base.bySite, product.bySite).slice(0, top).map(line),
  ];
}
