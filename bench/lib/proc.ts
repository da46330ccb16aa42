/**
 * CPU and memory of processes, read from /proc (Linux only). /proc/<pid>/stat of a process
 * (thread-group leader) already sums the CPU of all its threads: libuv's pool, V8's GC and
 * compiler threads, tsx's loader thread.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, almost always 100). */
export function clockTicks(): number {
  ticks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return ticks;
}

interface StatFields {
  comm: string;
  cpuMs: number;
}

/** utime + stime of a process (or, given `tid`, one of its threads) in ms, or null when it is gone. */
function readStat(pid: number, tid?: number): StatFields | null {
  let text: string;
  try {
    text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
  } catch {
    return null;
  }
  // comm is in parentheses and may itself contain spaces or parentheses: split after the last ')'.
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const fields = text.slice(close + 2).split(" ");
  // After comm: state(0) ppid(1) … utime(11) stime(12) (fields 14 and 15 of proc(5)).
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { comm, cpuMs: ((utime + stime) * 1000) / clockTicks() };
}

export function processCpuMs(pid: number): number | null {
  return readStat(pid)?.cpuMs ?? null;
}

/**
 * CPU ms of a process' main thread alone (its JavaScript, and the GC pauses it takes); the rest
 * of `processCpuMs` is V8's helper threads (concurrent marking, parallel scavenging, sweeping,
 * optimising compilers) and libuv's pool.
 */
export function mainThreadCpuMs(pid: number): number | null {
  return readStat(pid, pid)?.cpuMs ?? null;
}

/** A /proc/<pid>/status memory field (VmRSS, VmHWM) in MB, or null when the process is gone. */
function statusMb(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(status);
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** VmRSS in MB, or null when the process is gone. */
export function rssMb(pid: number): number | null {
  return statusMb(pid, "VmRSS");
}

/** CPU ms of every process with this command name, by pid. */
export function cpuByPid(comm: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.comm === comm) out.set(Number(entry), stat.cpuMs);
  }
  return out;
}

/**
 * CPU spent between two snapshots by processes named `comm`, per pid: a process born in between
 * counts from zero; one that exited in between is lost (its CPU cannot be read any more).
 */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>, only?: Set<number>) {
  let total = 0;
  for (const [pid, ms] of after) {
    if (only && !only.has(pid)) continue;
    total += ms - (before.get(pid) ?? 0);
  }
  return total;
}

/** Samples a process's RSS every `everyMs`: peak, and the latest value. */
export class RssSampler {
  peakMb = 0;
  lastMb = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 250,
  ) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
    this.#timer.unref();
  }

  sample(): number {
    const mb = rssMb(this.pid);
    if (mb !== null) {
      this.lastMb = mb;
      // VmHWM is the kernel's own peak since the process started: nothing between samples, or
      // before the sampler began (start-up, a warm-up), escapes it.
      this.peakMb = Math.max(this.peakMb, mb, statusMb(this.pid, "VmHWM") ?? 0);
    }
    return this.lastMb;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** The 1-minute load average and `uptime`'s line, to print beside every figure. */
export function loadLine(): string {
  const [one, five, fifteen] = readFileSync("/proc/loadavg", "utf8").split(" ");
  return `load average ${one}, ${five}, ${fifteen} (${navigatorCpus()} CPUs)`;
}

function navigatorCpus(): number {
  return readFileSync("/proc/cpuinfo", "utf8").match(/^processor\s*:/gm)?.length ?? 0;
}
