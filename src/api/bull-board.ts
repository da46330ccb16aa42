import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { FastifyAdapter } from "@bull-board/fastify";
import type { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";
import type { AnalysisQueue } from "../queue/analysis-queue.js";

export const QUEUE_BOARD_PATH = "/queues";

/**
 * bull-board for the "analyses" queue, read-only (bull-board refuses retry, clean and
 * remove server-side): the ledger lives in Postgres, so jobs are only watched here.
 */
export async function mountQueueBoard(app: FastifyInstance, queue: AnalysisQueue): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    // bull-board is typed for the Redis backend; it only calls the Queue methods both backends have.
    queues: [new BullMQAdapter(queue as unknown as Queue, { readOnlyMode: true, allowRetries: false })],
    serverAdapter,
    options: { uiConfig: { boardTitle: "stock-ledger queue" } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
}
