import { migrate } from "../../store/migrate.js";
import type { CliContext } from "../cli-context.js";

export async function migrateCommand(ctx: CliContext): Promise<void> {
  const applied = await migrate(ctx.config.databaseUrl, ctx.logger, ctx.config.databasePooling);
  const name = new URL(ctx.config.databaseUrl).pathname.slice(1);
  process.stdout.write(
    applied.length > 0
      ? `applied ${applied.length} migration(s) to ${name}: ${applied.join(", ")}\n`
      : `database ${name} is up to date\n`,
  );
}
