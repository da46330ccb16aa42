import { isConnectError, ServiceUnreachableError } from "../service-unreachable.js";
import { withTimeout } from "../timeout.js";
import type { AnalysisQueue, QueueBackend } from "./queue-backend.js";

/** How long an enqueueing command waits for the queue before it says so (its whole answer stays under 5 s). */
export const QUEUE_CHECK_TIMEOUT_MS = 2_500;

/**
 * Asks the queue for a round trip before anything is written, so an unreachable queue fails
 * the command in seconds with one line, instead of leaving a `queued` row whose job was never
 * added. A refused connection fails at once (the client would retry it forever); a silent one
 * after `timeoutMs`.
 */
export async function assertQueueReachable(
  queue: AnalysisQueue,
  where: Pick<QueueBackend, "service" | "address">,
  timeoutMs = QUEUE_CHECK_TIMEOUT_MS,
): Promise<void> {
  // The socket's code says it all ("ECONNREFUSED"); a driver's message would repeat the address.
  const unreachable = (error: unknown) =>
    new ServiceUnreachableError(
      where.service,
      where.address,
      isConnectError(error)
        ? String((error as { code: string }).code)
        : error instanceof Error
          ? error.message
          : String(error),
    );
  // The client retries a refused connection forever: the first such error answers at once.
  let onError: ((error: Error) => void) | undefined;
  const refused = new Promise<never>((_, reject) => {
    onError = (error) => {
      if (isConnectError(error)) reject(unreachable(error));
    };
    queue.on("error", onError);
  });
  try {
    await withTimeout(
      // A real round trip, through whichever backend the queue has.
      Promise.race([queue.waitUntilReady().then(() => queue.count()), refused]),
      timeoutMs,
      () => unreachable(new Error(`no answer within ${timeoutMs / 1000} s`)),
    );
  } catch (error) {
    if (error instanceof ServiceUnreachableError) throw error;
    throw unreachable(error);
  } finally {
    if (onError) queue.off("error", onError);
  }
}
