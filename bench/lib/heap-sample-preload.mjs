// Loaded with `node --import` into a bench worker when HEAP_SAMPLE_DIR is set: V8's sampling
// heap profiler runs from startup and keeps, besides what is still live at the end, every
// sampled object a full (mark-compact) collection freed, but not those scavenges freed. So the
// profile shows what lived long enough to be promoted to the old generation and then died:
// the mid-lived garbage that full collections exist for. With HEAP_SAMPLE_ALL=1 it keeps those
// scavenges freed too: every allocation, which is what drives scavenges. Written on SIGTERM.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";

const dir = process.env.HEAP_SAMPLE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  // A session in the same thread answers synchronously, so the profile is written before the
  // worker's own SIGTERM handler can exit the process.
  const post = (method, params) => {
    let result;
    session.post(method, params, (error, value) => {
      if (error) throw error;
      result = value;
    });
    return result;
  };
  post("HeapProfiler.enable");
  post("HeapProfiler.startSampling", {
    samplingInterval: 8192,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: process.env.HEAP_SAMPLE_ALL === "1",
  });
  process.prependOnceListener("SIGTERM", () => {
    const { profile } = post("HeapProfiler.stopSampling");
    writeFileSync(path.join(dir, `${process.pid}.heapprofile`), JSON.stringify(profile));
  });
}
