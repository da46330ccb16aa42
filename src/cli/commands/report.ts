import { rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { SamplePriceProvider } from "../../market/sample-provider.js";
import { quoteInput } from "../../queue/job-payload.js";
import { buildReport } from "../../report/build-report.js";
import { renderHtmlReport } from "../../report/render-html.js";
import { renderMarkdownReport } from "../../report/render-markdown.js";
import { REPORT_FORMATS, type ReportFormat } from "../../report/report-format.js";
import type { CliContext } from "../cli-context.js";
import { CliFailure, UsageError } from "../cli-errors.js";
import { parseAnalysisId } from "../input.js";

export interface ReportCommandOptions {
  format?: string;
  out?: string;
}

/** Said in a Markdown report printed to stdout, where no chart file can sit beside it. */
const STDOUT_CHARTS_NOTE =
  "The four charts are not part of Markdown printed to stdout: with `--out FILE.md` they are written " +
  "as PNG files beside it, and `--format html` embeds them.";

function parseFormat(raw: string): ReportFormat {
  if ((REPORT_FORMATS as readonly string[]).includes(raw)) return raw as ReportFormat;
  throw new UsageError(`invalid format ${quoteInput(raw)}: must be one of ${REPORT_FORMATS.join(", ")}`);
}

/** Refuses a path whose folder is missing, or that is a folder, before anything is read. */
async function checkOutput(file: string): Promise<void> {
  const folder = path.dirname(path.resolve(file));
  const info = await stat(folder).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new UsageError(`cannot write ${file}: no such directory ${folder}`);
  }
  if ((await stat(file).catch(() => null))?.isDirectory()) {
    throw new UsageError(`cannot write ${file}: it is a directory`);
  }
}

/** Written beside, then renamed: a reader never sees half a file, and a failure leaves none. */
async function writeAtomically(file: string, data: string | Buffer): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, data);
  await rename(temp, file);
}

const print = (text: string) =>
  new Promise<void>((resolve, reject) =>
    process.stdout.write(text, (error) => (error ? reject(error) : resolve())),
  );

/**
 * `report ANALYSIS_ID [--format md|html] [--out FILE]` (DESIGN §12): what an analysis
 * concluded and on what data. HTML embeds the charts; Markdown with --out writes them as PNG
 * files beside it (FILE's name + "-<stage>.png"), and to stdout it says where to get them.
 */
export async function reportCommand(
  ctx: CliContext,
  rawId: string,
  options: ReportCommandOptions,
): Promise<void> {
  // Bad input is refused (exit 2) before the database is touched.
  const format = parseFormat(options.format ?? "md");
  const id = parseAnalysisId(rawId);
  if (options.out !== undefined) await checkOutput(options.out);

  const withCharts = format === "html" || options.out !== undefined;
  const report = await buildReport(ctx.sql, id, { charts: withCharts, samples: new SamplePriceProvider() });
  if (!report) throw new CliFailure(`analysis ${id} not found`);

  if (format === "html") {
    const html = renderHtmlReport(report);
    if (options.out === undefined) return print(html);
    await writeAtomically(options.out, html);
    return print(`wrote ${options.out}: ${Math.ceil(Buffer.byteLength(html) / 1024)} KB, charts embedded\n`);
  }
  if (options.out === undefined) return print(renderMarkdownReport(report, { note: STDOUT_CHARTS_NOTE }));

  const folder = path.dirname(options.out);
  const stem = path.basename(options.out, path.extname(options.out));
  const files: Record<string, string> = {};
  for (const chart of report.charts ?? []) {
    const name = `${stem}-${chart.callType}.png`;
    await writeAtomically(path.join(folder, name), chart.png);
    files[chart.callType] = name;
  }
  await writeAtomically(options.out, renderMarkdownReport(report, { files }));
  const written = Object.values(files);
  return print(
    `wrote ${options.out}${written.length > 0 ? ` and ${written.length} charts beside it: ${written.join(", ")}` : " (no charts: see the report)"}\n`,
  );
}
