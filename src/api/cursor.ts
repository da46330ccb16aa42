import { ANALYSIS_ID_PATTERN } from "../queue/job-payload.js";
import type { AnalysisRow } from "../store/analyses-repo.js";

/** Where the next page of `GET /analyses` starts: after this (created_at, id), newest first. */
export interface PageCursor {
  createdAt: Date;
  id: string;
}

export class InvalidCursorError extends Error {
  override name = "InvalidCursorError";
}

/** Opaque to clients (base64url JSON), so its layout can change without breaking them. */
export function encodeCursor(row: Pick<AnalysisRow, "created_at" | "id">): string {
  return Buffer.from(JSON.stringify({ t: row.created_at.toISOString(), i: row.id })).toString("base64url");
}

export function decodeCursor(raw: string): PageCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError("not a cursor from a previous page's next_cursor");
  }
  const { t, i } = (value ?? {}) as { t?: unknown; i?: unknown };
  const createdAt = typeof t === "string" ? new Date(t) : null;
  if (
    !createdAt ||
    Number.isNaN(createdAt.getTime()) ||
    typeof i !== "string" ||
    !ANALYSIS_ID_PATTERN.test(i)
  ) {
    throw new InvalidCursorError("not a cursor from a previous page's next_cursor");
  }
  return { createdAt, id: i };
}
