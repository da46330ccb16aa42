import { rmSync } from "node:fs";
import { stopPostmasterSync } from "./postgres-process.js";

const EXIT_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** The clean-ups of this process's ephemeral servers, run by one set of listeners. */
const ephemeral = new Set<() => void>();

function cleanUpEphemeral(): void {
  for (const cleanUp of ephemeral) cleanUp();
  ephemeral.clear();
  untieListeners();
}

function onExitSignal(signal: NodeJS.Signals): void {
  // Another handler owns this signal and will exit, which runs the exit hook.
  if (process.listenerCount(signal) > 1) return;
  cleanUpEphemeral();
  // What the signal would have done without us.
  process.kill(process.pid, signal);
}

function untieListeners(): void {
  process.removeListener("exit", cleanUpEphemeral);
  for (const signal of EXIT_SIGNALS) process.removeListener(signal, onExitSignal);
}

/**
 * An ephemeral server ends with this process however it ends, short of SIGKILL: at exit, and on a
 * signal nobody else handles (whose default action would skip the exit hook). Returns the undo.
 */
export function tieToProcess(pid: number, dir: string): () => void {
  const cleanUp = () => {
    stopPostmasterSync(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  if (ephemeral.size === 0) {
    process.once("exit", cleanUpEphemeral);
    for (const signal of EXIT_SIGNALS) process.on(signal, onExitSignal);
  }
  ephemeral.add(cleanUp);
  return () => {
    ephemeral.delete(cleanUp);
    if (ephemeral.size === 0) untieListeners();
  };
}
