/**
 * The formats a report is rendered in: Markdown (the default) or one self-contained HTML page.
 * On its own so the CLI's and the API's input checks load nothing of the report's machinery.
 */
export const REPORT_FORMATS = ["md", "html"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
