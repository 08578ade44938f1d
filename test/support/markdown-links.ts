/**
 * What a Markdown file links to and which anchors it offers, read the way
 * GitHub renders it: links are taken from the parsed document (so a `[x](y)`
 * inside a code block is not one), and headings become anchors by GitHub's
 * own slug rules (github-slugger: lower case, punctuation dropped, spaces to
 * hyphens, a repeated heading gets `-1`, `-2`).
 */
import { readFileSync } from "node:fs";
import { marked, type Token, type Tokens } from "marked";
import GithubSlugger from "github-slugger";

/** One link of a Markdown file. */
export interface MarkdownLink {
  /** the target as written: `docs/x.md#y`, `#y`, `https://…` */
  href: string;
  /** the link's text, to name it in a failure */
  text: string;
}

/** A Markdown file's links, the anchors its headings make, and its code spans. */
export interface MarkdownOutline {
  links: MarkdownLink[];
  anchors: Set<string>;
  /** the text of every inline code span (`like this`), outside code blocks */
  codeSpans: string[];
}

/** The text a reader sees of some inline tokens (code spans, emphasis and links included, markup dropped). */
function plainText(tokens: readonly Token[] | undefined, fallback: string): string {
  if (!tokens) return fallback;
  return tokens
    .map((t) => {
      const nested = (t as { tokens?: Token[] }).tokens;
      if (nested && nested.length > 0) return plainText(nested, "");
      return t.type === "codespan" || t.type === "text" || t.type === "escape" ? (t as Tokens.Text).text : "";
    })
    .join("");
}

/** Reads a Markdown text's links, anchors and code spans. */
export function markdownOutline(markdown: string): MarkdownOutline {
  const slugger = new GithubSlugger();
  const links: MarkdownLink[] = [];
  const anchors = new Set<string>();
  const codeSpans: string[] = [];
  marked.walkTokens(marked.lexer(markdown), (t) => {
    if (t.type === "heading") anchors.add(slugger.slug(plainText((t as Tokens.Heading).tokens, (t as Tokens.Heading).text)));
    else if (t.type === "link" || t.type === "image") links.push({ href: (t as Tokens.Link).href, text: (t as Tokens.Link).text });
    else if (t.type === "codespan") codeSpans.push((t as Tokens.Codespan).text);
  });
  return { links, anchors, codeSpans };
}

/** {@link markdownOutline} of a file, read once per path. */
const outlines = new Map<string, MarkdownOutline>();
export function markdownFileOutline(path: string): MarkdownOutline {
  let o = outlines.get(path);
  if (!o) outlines.set(path, (o = markdownOutline(readFileSync(path, "utf8"))));
  return o;
}
