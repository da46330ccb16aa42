/**
 * A model's answer as the report shows it: capped, so a runaway answer (a megabyte of
 * repetition) cannot blow up a report page or a terminal. A real stage answer is 1-8 kB
 * (at most 2,048 output tokens); the cap leaves room for ten times that.
 */
export const MAX_ANSWER_CHARS = 20_000;

export interface ShownAnswer {
  text: string;
  /** Set when the answer was cut: what the reader is told. */
  truncatedNote: string | null;
}

export function capAnswer(text: string, analysisId: string, max = MAX_ANSWER_CHARS): ShownAnswer {
  if (text.length <= max) return { text, truncatedNote: null };
  let cut = max;
  // At a line end when one is near, so a paragraph or table row is not split mid-way.
  const newline = text.lastIndexOf("\n", cut);
  if (newline > max * 0.9) cut = newline;
  // Never between the halves of a surrogate pair.
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return {
    text: text.slice(0, cut),
    truncatedNote:
      `Answer truncated: ${cut.toLocaleString("en-US")} of ${text.length.toLocaleString("en-US")} characters shown ` +
      `(the whole answer: \`stock-ledger show ${analysisId} --json\`).`,
  };
}

/**
 * Closes a code fence the answer left open (odd number of ``` or ~~~ fence lines, or one cut
 * by the cap): in a Markdown report the rest of the document would otherwise render as code.
 */
export function closeOpenFence(text: string): string {
  let open: string | null = null;
  for (const line of text.split("\n")) {
    const fence = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (!fence) continue;
    if (open === null) open = fence;
    else if (fence[0] === open[0] && fence.length >= open.length) open = null;
  }
  return open === null ? text : `${text}\n${open}`;
}
