/** What the live block needs of a terminal stream (process.stderr on a TTY). */
export interface TerminalOut {
  write(text: string): unknown;
  columns?: number | undefined;
  rows?: number | undefined;
}

const ESC = "\u001b[";

/**
 * Redraws a block of lines in place at the bottom of a terminal with plain ANSI: cursor up
 * over the previous frame, each line cleared before it is written, anything below erased.
 * The cursor ends under the block, so whatever is printed after it follows the last frame.
 * Nothing else may write to the stream between two draws.
 */
export class LiveBlock {
  #height = 0;
  #last: string | null = null;

  constructor(private readonly out: TerminalOut) {}

  draw(lines: string[]): void {
    const text = lines.join("\n");
    if (text === this.#last) return; // a look that changed nothing redraws nothing
    this.#last = text;
    const up = this.#height > 0 ? `\r${ESC}${this.#height}A` : "";
    const body = lines.map((line) => `${ESC}2K${line}\n`).join("");
    // One write: the terminal never shows half a frame.
    this.out.write(`${up}${body}${ESC}J`);
    this.#height = lines.length;
  }
}
