/**
 * Stops waiting for `work` after `ms`, rejecting with `timedOut()`; the work itself may go on
 * (for calls that take no AbortSignal). The timer is always cleared.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timedOut()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
