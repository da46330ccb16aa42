import { dropOldCallPartitions } from "../../store/partitions-repo.js";
import type { CliContext } from "../cli-context.js";
import { parsePositiveInt } from "../input.js";
import { printJson } from "../render.js";

/** Drops monthly llm_calls partitions older than --keep-months (analyses keep their totals). */
export async function retentionCommand(
  ctx: CliContext,
  options: { keepMonths: string; dryRun?: boolean; json?: boolean },
): Promise<void> {
  const keepMonths = parsePositiveInt(options.keepMonths, "--keep-months");
  const dropped = await dropOldCallPartitions(ctx.sql, { keepMonths, dryRun: options.dryRun ?? false });
  if (options.json) {
    printJson({
      dry_run: options.dryRun ?? false,
      dropped: dropped.map((p) => ({ partition: p.name, from: p.from, to: p.to, rows: p.rows })),
    });
    return;
  }
  const verb = options.dryRun ? "would drop" : "dropped";
  if (dropped.length === 0)
    process.stdout.write(`nothing to drop: no llm_calls month is older than ${keepMonths} months\n`);
  for (const p of dropped) {
    process.stdout.write(`${verb} ${p.name} (${p.from.toISOString().slice(0, 7)}, ${p.rows} call rows)\n`);
  }
}
