import { Command, CommanderError } from "commander";
import { DailyBudgetExhaustedError } from "../analysis/daily-budget.js";
import { UsageError } from "../config/config.js";
import { logger } from "../logger.js";
import { ServiceUnreachableError } from "../service-unreachable.js";
import { guardTypeFetchRejections } from "../store/database.js";
import { CliContext } from "./cli-context.js";
import { CliFailure, explainDbError } from "./cli-errors.js";

/** Commander parses; each command is a plain async function of (context, args, options). */
function buildProgram(ctx: CliContext): Command {
  const program = new Command("stock-ledger")
    .description("LLM token and cost ledger for six-stage Gemini stock analyses")
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(text.split("\n")[0] ? `${text.split("\n")[0]}\n` : text),
    })
    .showSuggestionAfterError(true);

  program
    .command("migrate")
    .description("create the database if missing and apply sql/ migrations")
    .action(async () => (await import("./commands/migrate.js")).migrateCommand(ctx));
  program
    .command("worker")
    .description("run analysis jobs until SIGTERM/SIGINT")
    .option("--concurrency <n>", "analyses in flight (default WORKER_CONCURRENCY)")
    .option("--metrics-port <port>", "serve this worker's /metrics (call durations, live trackers)")
    .action(async (options) => (await import("./commands/worker.js")).workerCommand(ctx, options));
  program
    .command("analyze")
    .description("enqueue analyses for one or more tickers")
    .argument("<tickers...>", "tickers such as RELIANCE TCS.NS BRK.B")
    .option("--wait", "wait until they end; exit 0 only if all completed")
    .option("--model <model>", "Gemini model (default GEMINI_MODEL)")
    .option("--id <id>", "analysis id (makes enqueueing idempotent; one ticker)")
    .option("--estimate", "print predicted tokens and cost per stage; run nothing")
    .option("--reuse", "reuse stage answers of identical recent inputs (default REUSE_BY_DEFAULT)")
    .option("--no-reuse", "always ask the model")
    .option("--context-cache", "put the stages' shared prompt prefix in an explicit Gemini context cache")
    .option("--max-tokens <n>", "stop spending on this analysis after n tokens")
    .option("--max-cost <usd>", "stop spending on this analysis after this many USD")
    .option(
      "--allow-partial",
      "run the stages that fit when the whole analysis cannot fit under --max-tokens/--max-cost",
    )
    .option("--allow-unpriced", "run a model the price book does not know (its costs stay unknown)")
    .option("--json", "print JSON")
    .action(async (tickers: string[], options) =>
      (await import("./commands/analyze.js")).analyzeCommand(ctx, tickers, options),
    );
  program
    .command("summary")
    .description("print the token usage summary of an analysis")
    .argument("<analysis-id>")
    .action(async (id: string) => (await import("./commands/read-commands.js")).summaryCommand(ctx, id));
  program
    .command("show")
    .description("print an analysis with all its LLM calls")
    .argument("<analysis-id>")
    .option("--json", "print JSON")
    .action(async (id: string, options) =>
      (await import("./commands/read-commands.js")).showCommand(ctx, id, options),
    );
  program
    .command("list")
    .description("list analyses, newest first")
    .option("--ticker <ticker>")
    .option("--status <status>")
    .option("--since <date>", "YYYY-MM-DD or ISO timestamp")
    .option("--limit <n>", "at most n rows (default 20)")
    .option("--json", "print JSON")
    .action(async (options) => (await import("./commands/read-commands.js")).listCommand(ctx, options));
  program
    .command("stats")
    .description("tokens, cost, success rate and call latency from the daily rollups")
    .option("--range <range>", "today, 7d, 30d or all (default all)")
    .option("--since <date>", "first UTC day, YYYY-MM-DD")
    .option("--until <date>", "last UTC day, YYYY-MM-DD (included)")
    .option("--by <dimension>", "stage, model, ticker or day (default stage)")
    .option("--json", "print JSON")
    .action(async (options) => (await import("./commands/stats.js")).statsCommand(ctx, options));
  program
    .command("export")
    .description("stream analyses or calls as CSV or NDJSON")
    .requiredOption("--format <format>", "csv or json (one object per line)")
    .option("--what <rows>", "analyses or calls (default analyses)")
    .option("--since <date>", "YYYY-MM-DD or ISO timestamp")
    .option("--until <date>", "YYYY-MM-DD (that day included) or ISO timestamp (excluded)")
    .option("--ticker <ticker>")
    .option("--status <status>", "an analysis status, or success|failure|interrupted for calls")
    .option("--out <file>", "write to FILE (atomically) instead of stdout")
    .action(async (options) => (await import("./commands/export.js")).exportCommand(ctx, options));
  program
    .command("serve")
    .description("serve the HTTP API, dashboard (/), queue board (/queues) and /metrics")
    .option("--port <port>", "port (default 3000)")
    .option("--host <host>", "address to bind (default 127.0.0.1)")
    .action(async (options) => (await import("./commands/serve.js")).serveCommand(ctx, options));
  program
    .command("retention")
    .description("drop monthly llm_calls partitions older than --keep-months (analysis totals stay)")
    .requiredOption("--keep-months <n>", "full months to keep before the current one")
    .option("--dry-run", "only say what would be dropped")
    .option("--json", "print JSON")
    .action(async (options) => (await import("./commands/retention.js")).retentionCommand(ctx, options));
  program
    .command("emulator")
    .description("serve the built-in Gemini REST emulator")
    .option("--port <port>", "port (default 8787)")
    .action(async (options) => (await import("./commands/emulator.js")).emulatorCommand(ctx, options));
  program
    .command("import-prices")
    .description("import daily OHLCV from a CSV into price_bars (all or nothing)")
    .argument("<file>", "CSV with date, open, high, low, close, volume (and ticker) columns")
    .option("--ticker <ticker>", "the ticker of the rows (a ticker column saying otherwise is refused)")
    .option("--currency <code>", "currency of the prices (default INR)")
    // Loaded on use, like chart below: neither should slow the start-up of every other command.
    .action(async (file: string, options) =>
      (await import("./commands/import-prices.js")).importPricesCommand(ctx, file, options),
    );
  program
    .command("chart")
    .description("render the chart a stage is shown to a PNG file")
    .argument("<ticker>")
    .requiredOption("--out <file>", "PNG file to write")
    .option("--kind <kind>", "overview | volume | reversal | levels (default overview)")
    .action(async (ticker: string, options) =>
      (await import("./commands/chart.js")).chartCommand(ctx, ticker, options),
    );
  program
    .command("demo")
    .description("migrate, run the emulator and a worker, analyse RELIANCE, TCS, INFY")
    .action(async () => (await import("./commands/demo.js")).demoCommand(ctx));
  program
    .command("up")
    .description("start an embedded PostgreSQL in the background; prints export lines for eval")
    .option("--dir <dir>", "its data directory (default under the user's data directory)")
    .action(async (options) => (await import("./commands/up-down.js")).upCommand(ctx, options));
  program
    .command("down")
    .description("stop the embedded PostgreSQL started by `up`; its data stays")
    .option("--dir <dir>", "its data directory (default under the user's data directory)")
    .action(async (options) => (await import("./commands/up-down.js")).downCommand(ctx, options));
  return program;
}

function exitCodeFor(
  error: unknown,
  databaseUrl: string | undefined,
): { code: number; message: string | null } {
  if (error instanceof CommanderError) {
    // Help and version are not errors; commander has already printed its one line.
    const benign =
      error.exitCode === 0 || error.code === "commander.helpDisplayed" || error.code === "commander.version";
    return { code: benign ? 0 : 2, message: null };
  }
  if (error instanceof UsageError) return { code: 2, message: error.message };
  if (
    error instanceof CliFailure ||
    error instanceof DailyBudgetExhaustedError ||
    error instanceof ServiceUnreachableError
  ) {
    return { code: 1, message: error.message };
  }
  const explained = explainDbError(error, databaseUrl);
  return { code: 1, message: explained ?? (error instanceof Error ? error.message : String(error)) };
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const ctx = new CliContext();
  let code = 0;
  try {
    await buildProgram(ctx).parseAsync(argv);
  } catch (error) {
    const outcome = exitCodeFor(error, ctx.databaseUrlIfLoaded);
    code = outcome.code;
    if (outcome.message) process.stderr.write(`stock-ledger: ${outcome.message.split("\n")[0]}\n`);
    if (code === 1) logger.debug({ err: error }, "command failed");
  } finally {
    await ctx.close().catch(() => undefined);
  }
  return code;
}

guardTypeFetchRejections();
const code = await main();
logger.flush(() => process.exit(code));
