/**
 * multipart/related bodies as the Files API's multipart upload sends them: a JSON metadata part,
 * then the media part, raw bytes (RFC 2046 framing, CRLF line ends).
 */

export interface MultipartPart {
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: Buffer;
}

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");

/** The boundary of a `multipart/...; boundary=xyz` content type, or null. */
export function boundaryOf(contentType: string | undefined): string | null {
  const match = /^multipart\/[a-z-]+\s*;(?:.*;)?\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  return match ? (match[1] ?? match[2] ?? null) : null;
}

function parseHeaders(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.toString("latin1").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** The parts in order, or null when the body is not framed by the boundary. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] | null {
  const opening = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let at = body.indexOf(opening);
  if (at < 0) return null;
  at += opening.length;
  const parts: MultipartPart[] = [];
  for (;;) {
    // "--" after a delimiter closes the body.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts;
    if (!body.subarray(at, at + 2).equals(CRLF)) return null;
    const start = at + 2;
    const end = body.indexOf(delimiter, start);
    if (end < 0) return null;
    const part = body.subarray(start, end);
    // A part with no headers starts with its blank line.
    const headerEnd = part.subarray(0, 2).equals(CRLF) ? -2 : part.indexOf(HEADER_END);
    if (headerEnd === -1) return null;
    parts.push({
      headers: headerEnd < 0 ? {} : parseHeaders(part.subarray(0, headerEnd)),
      body: part.subarray(headerEnd < 0 ? 2 : headerEnd + HEADER_END.length),
    });
    at = end + delimiter.length;
  }
}
