import { BatchCancelError, NotCancellableError } from "../../analysis/cancel-analysis.js";
import { cancelEnqueuedAnalysis } from "../../queue/cancel.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure } from "../cli-errors.js";
import { parseAnalysisId } from "../input.js";
import { printJson } from "../render.js";

const counted = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** `cancel ANALYSIS_ID`: ends a queued or waiting analysis `failed` ("cancelled"); exit 1 when it cannot. */
export async function cancelCommand(ctx: CliContext, rawId: string, options: { json?: boolean }) {
  const id = parseAnalysisId(rawId);
  let outcome: Awaited<ReturnType<typeof cancelEnqueuedAnalysis>>;
  try {
    outcome = await cancelEnqueuedAnalysis(
      { sql: ctx.sql, queue: ctx.queue(), config: ctx.config, logger: ctx.logger },
      id,
    );
  } catch (error) {
    if (error instanceof NotCancellableError || error instanceof BatchCancelError) {
      throw new CliFailure(error.message);
    }
    throw error;
  }
  const { row, withdrawnRequests, cancelledBatches } = outcome;
  if (options.json) {
    printJson({
      id: row.id,
      status: row.status,
      withdrawn_requests: withdrawnRequests,
      cancelled_batches: cancelledBatches,
    });
    return;
  }
  const detail = [
    counted(withdrawnRequests, "batch request withdrawn", "batch requests withdrawn"),
    counted(cancelledBatches, "batch cancelled", "batches cancelled"),
  ].join(", ");
  process.stdout.write(`${row.ticker} ${row.id} cancelled (${detail})\n`);
}
