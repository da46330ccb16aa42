/**
 * Sends a job's progress at most once per interval, each update carrying the latest state. An
 * analysis changes stage state twelve times, mostly in bursts; each update is a Lua script in
 * Redis for the worker plus an event in the queue's stream for every watcher, and watchers (a
 * person at `analyze --wait`) only need the latest state about once a second: at 250 ms the
 * updates were half the worker's Redis commands at L = 500 ms (5.4 per job; 2.6 at 1 s).
 * The first update waits one interval too: a job that ends sooner needs none (its result
 * says it all), which is most jobs when the model answers fast.
 */
export class ProgressThrottle<T> {
  #latest: T | undefined;
  #timer: NodeJS.Timeout | null = null;
  #lastSentAt = Date.now();
  #stopped = false;

  constructor(
    private readonly send: (progress: T) => Promise<unknown>,
    private readonly intervalMs = 1000,
  ) {}

  update(progress: T): void {
    if (this.#stopped) return;
    this.#latest = progress;
    if (this.#timer) return;
    const wait = this.#lastSentAt + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.#flush();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#flush();
    }, wait);
  }

  /**
   * The job ended: its result says the rest, so a trailing update would only arrive late.
   * Watchers must not wait for a last update (`analyze --wait` reads the end from the ledger).
   */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #flush(): void {
    if (this.#stopped || this.#latest === undefined) return;
    this.#lastSentAt = Date.now();
    // Progress is a courtesy to watchers: a Redis blip must not fail the analysis.
    this.send(this.#latest).catch(() => undefined);
  }
}
