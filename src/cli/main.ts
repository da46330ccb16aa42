import { readFileSync } from "node:fs";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { projectRoot } from "../paths.js";
import type { CliContext } from "./cli-context.js";

// Start-up: only commander is loaded up front, so --help, --version and usage errors answer at
// once. The context (config, zod, pino, postgres.js) is opened just before a command's action,
// BullMQ only for the commands that use the queue, and each command's module on use.

/**
 * Commands that never use ctx.queue() or ctx.queueBackend skip loading BullMQ and ioredis, the
 * slowest modules to load; any other command (a new one too) gets them before its action.
 */
const QUEUELESS_COMMANDS = new Set(
  "migrate worker summary show list stats export retention emulator import-prices chart up down report".split(
    " ",
  ),
);

/** Opened by the preAction hook, before the action of the command that runs; undefined until then. */
let ctx!: CliContext;

const version = (): string =>
  (JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { version: string }).version;

/** Commander parses; each command is a plain async function of (context, args, options). */
function buildProgram(): Command {
  const program = new Command("stock-ledger")
    .description("LLM token and cost ledger for six-stage Gemini stock analyses")
    .version(version(), "-V, --version", "print the version")
    .exitOverride()
    // Errors are printed by main() as one line with the suggestion kept (cli-errors.ts).
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true)
    .hook("preAction", async (_program, command) => {
      const [{ CliContext }, { guardTypeFetchRejections }] = await Promise.all([
        import("./cli-context.js"),
        import("../store/database.js"),
      ]);
      guardTypeFetchRejections();
      ctx = new CliContext();
      if (!QUEUELESS_COMMANDS.has(command.name())) await ctx.loadQueueBackend();
    });

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
    .option("--batch", "run through Gemini's Batch API at half price (answers within 24 h; usually minutes)")
    .option(
      "--batch-fallback <mode>",
      "batch requests that fail or expire: sync (ask again at the standard price) or none (default: the stage fails)",
    )
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
    .command("cancel")
    .description("cancel a queued or waiting analysis (and its batch requests no other analysis shares)")
    .argument("<analysis-id>")
    .option("--json", "print JSON")
    .action(async (id: string, options) =>
      (await import("./commands/cancel.js")).cancelCommand(ctx, id, options),
    );
  program
    .command("summary")
    .description("print the token usage summary of an analysis")
    .argument("<analysis-id>")
    .action(async (id: string) => (await import("./commands/read-commands.js")).summaryCommand(ctx, id));
  program
    .command("report")
    .description("what an analysis concluded: decision, stage answers, charts, tokens and cost")
    .argument("<analysis-id>")
    .option("--format <format>", "md or html (default md)")
    .option("--out <file>", "write to FILE (md: the 4 charts as PNG files beside it) instead of stdout")
    .action(async (id: string, options) =>
      (await import("./commands/report.js")).reportCommand(ctx, id, options),
    );
  program
    .command("show")
    .description("print an analysis with all its LLM calls")
    .argument("<analysis-id>")
    .option("--json", "print JSON")
    .option("--wide", "show every column of the calls table (wider than 100 columns)")
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
    .option("--wide", "add model, token split, duration and full timestamps (wider than 100 columns)")
    .action(async (options) => (await import("./commands/read-commands.js")).listCommand(ctx, options));
  program
    .command("stats")
    .description("tokens, cost, success rate and call latency from the daily rollups")
    .option("--range <range>", "today, 7d, 30d or all (default all)")
    .option("--since <date>", "first UTC day, YYYY-MM-DD")
    .option("--until <date>", "last UTC day, YYYY-MM-DD (included)")
    .option("--by <dimension>", "stage, model, ticker or day (default stage)")
    .option("--json", "print JSON")
    .option("--wide", "add the token split, p50, USD per 1K tokens and savings (wider than 100 columns)")
    .action(async (options) => (await import("./commands/stats.js")).statsCommand(ctx, options));
  program
    .command("export")
    .description("stream analyses or calls as CSV or NDJSON")
    .option(
      "--format <format>",
      "csv or json (one object per line); default: from --out's extension (.json, .ndjson, .jsonl → json), else csv",
    )
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
    .option("--batch-delay-ms <ms>", "how long a batch stays pending/running before it ends")
    .option("--batch-expiry-ms <ms>", "a batch not done this long after creation ends EXPIRED")
    .option("--batch-outcome <outcome>", "how batches end: succeeded, failed, expired, cancelled")
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

export async function main(argv: string[] = process.argv): Promise<number> {
  let code = 0;
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    // --help and --version end here too (exitOverride): exit 0, nothing to add or to load.
    if (error instanceof CommanderError && error.exitCode === 0) return 0;
    const { describeFailure } = await import("./cli-errors.js");
    const outcome = await describeFailure(error, ctx?.databaseUrlIfLoaded);
    code = outcome.code;
    if (outcome.line) process.stderr.write(`stock-ledger: ${outcome.line}\n`);
    if (code === 1) (await loadedLogger())?.debug({ err: error }, "command failed");
  } finally {
    await ctx?.close().catch(() => undefined);
  }
  return code;
}

/** The logger once a command has opened its context (help, --version and usage errors never load it). */
async function loadedLogger() {
  if (!ctx) return null;
  return (await import("../logger.js")).logger;
}

const code = await main();
const logger = await loadedLogger();
if (logger) logger.flush(() => process.exit(code));
// Nothing was opened: the process ends by itself once stdout and stderr are written.
else process.exitCode = code;
