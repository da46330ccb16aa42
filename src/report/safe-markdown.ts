import MarkdownIt from "markdown-it";

/**
 * Model answers are Markdown written by an LLM, so untrusted. markdown-it with `html: false`
 * escapes every `<`, `>` and `&` of the source, raw HTML blocks and inline tags included, so
 * no markup of the model's reaches the page. On top of that the rules that would make the
 * page load or open something are off: images (remote loads), links and autolinks
 * (javascript: and other targets), and link reference definitions (which would silently drop
 * text). Such syntax stays visible as plain, escaped text. Tables, lists, emphasis and code
 * stay, as analyses use them. No typographer, no linkify: the text is the model's own. (The default preset's
 * nesting limit, 100 levels, bounds the work a pathological answer costs; answers are capped too.)
 */
const renderer = new MarkdownIt("default", {
  html: false,
  linkify: false,
  typographer: false,
  breaks: false,
}).disable(["image", "link", "autolink", "reference", "html_inline", "html_block"]);

/** The answer as an HTML fragment in which the only tags are markdown-it's own. */
export function markdownToSafeHtml(markdown: string): string {
  return renderer.render(markdown);
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Text for HTML content or a quoted attribute value. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
