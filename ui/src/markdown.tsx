// Markdown for agent transcripts. Agent output is untrusted, so it never reaches the
// DOM as HTML. markdown-it reads the source into tokens; `parseMarkdown` maps them into
// a small tree of plain objects whose tags come from a fixed list, and `Markdown`
// renders that tree with Preact, text as text children. What may reach the page is
// decided here, not by the parser: raw HTML and any token this file does not know stay
// their literal text, images are never loaded, links keep their URL only when it is
// http, https or mailto, and no element is nested deeper than MAX_DEPTH.

import MarkdownIt, { type StateBlock, type Token } from "markdown-it";
import { h, type ComponentChild, type VNode } from "preact";

// -- the tree -----------------------------------------------------------------

export type MdTag =
  | "p"
  | "h1"
  | "h2"
  | "h3"
  | "h4"
  | "h5"
  | "h6"
  | "strong"
  | "em"
  | "code"
  | "pre"
  | "a"
  | "ul"
  | "ol"
  | "li"
  | "blockquote"
  | "hr"
  | "br"
  | "del"
  | "table"
  | "thead"
  | "tbody"
  | "tr"
  | "th"
  | "td";

export interface MdText {
  kind: "text";
  text: string;
}

export interface MdElement {
  kind: "element";
  tag: MdTag;
  children: MdNode[];
  /// `a` only: an http, https or mailto URL, as normalized by the URL parser.
  href?: string;
  /// The `code` of a fenced code block: the first word of the fence's info string.
  language?: string;
  /// `ol` only, when the list does not start at 1.
  start?: number;
}

export type MdNode = MdText | MdElement;

/// Headings are shifted down two levels (`#` is h3, `####` and deeper are h6): a
/// transcript is a part of a page whose own h1 and h2 are the window's titles.
const HEADING_TAGS: readonly MdTag[] = ["h3", "h4", "h5", "h6", "h6", "h6"];

/// No element of the tree is nested deeper than this; deeper markup is shown as its
/// text. It bounds every recursion over the tree, here and in the page.
const MAX_DEPTH = 16;

function text(value: string): MdText {
  return { kind: "text", text: value };
}

function element(tag: MdTag, children: MdNode[], extra?: Partial<MdElement>): MdElement {
  return { kind: "element", tag, children, ...extra };
}

// -- URLs ---------------------------------------------------------------------

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
const SAFE_SCHEME = /^(?:https?|mailto):/i;
/// Hosts of the app itself (Tauri's IPC, app and asset origins on the platforms that
/// serve them over http): never a link target, whatever the scheme.
const APP_HOSTS = ["ipc.localhost", "tauri.localhost", "asset.localhost"];
const DOT = 46;

/// The URL to link to, or undefined when `url` must not become a link: anything but
/// an absolute http, https or mailto URL (relative URLs included, as they would
/// resolve against the app's own origin).
export function safeHref(url: string): string | undefined {
  // Browsers drop C0 controls and spaces at the ends of a URL and ASCII tabs and
  // newlines anywhere in it ("java\nscript:" is javascript:), so judge the URL the
  // way they will read it.
  let start = 0;
  let end = url.length;
  while (start < end && url.charCodeAt(start) <= 0x20) start++;
  while (end > start && url.charCodeAt(end - 1) <= 0x20) end--;
  const cleaned = url.slice(start, end).replace(/[\t\n\r]/g, "");
  // The scheme is what precedes the first ":", in any case. Checked before parsing,
  // which would throw on most other URLs (slowly, when a message holds thousands).
  if (!SAFE_SCHEME.test(cleaned)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(cleaned);
  } catch {
    return undefined;
  }
  if (!SAFE_PROTOCOLS.has(parsed.protocol)) return undefined;
  if (parsed.protocol !== "mailto:") {
    let host = parsed.hostname;
    let hostEnd = host.length;
    while (hostEnd > 0 && host.charCodeAt(hostEnd - 1) === DOT) hostEnd--;
    host = host.slice(0, hostEnd);
    if (APP_HOSTS.some((app) => host === app || host.endsWith(`.${app}`))) return undefined;
  }
  return parsed.href;
}

// -- parsing --------------------------------------------------------------------

/// Blockquotes and lists open no deeper than this: the rest of the deepest container
/// is shown as a paragraph of its literal text (see `literalAtMaxLevel`). The margin
/// under MAX_DEPTH leaves room inside the deepest container for a table (table, thead,
/// tr, th) or a paragraph with some inline markup, and keeps block parsing under
/// markdown-it's `maxNesting`, where it would drop the rest of the text.
const MAX_CONTAINER_LEVEL = MAX_DEPTH - 4;

const parser = createParser();

function createParser() {
  // The default preset is CommonMark with GitHub's tables and strikethrough. Without
  // `html`, raw HTML is text. Bare URLs are linked as on GitHub, but only http and
  // https ones: no guessing at "www.example", e-mail addresses or ftp.
  //
  // Nesting deeper than the tree may show is wasted work, and runs of brackets cost
  // time in proportion to markdown-it's `maxNesting` (100 by default).
  const md = new MarkdownIt("default", { html: false, linkify: true, maxNesting: MAX_DEPTH });
  md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
  md.linkify.add("ftp:", null).add("//", null).add("mailto:", null);
  // Bare URLs are linked by the inline rule, as the text is read, so that emphasis
  // cannot cut one; the pass over the finished text would only add the guesses turned
  // off above.
  md.core.ruler.disable("linkify");
  const matchAtStart = md.linkify.matchAtStart.bind(md.linkify);
  md.linkify.matchAtStart = (source) => {
    const match = matchAtStart(source);
    if (match) withoutClosingDelimiters(match);
    return match;
  };
  // Every link is kept as written and judged by safeHref when the tree is built: with
  // markdown-it's own list of bad schemes `[x](javascript:…)` would stay bracket soup
  // rather than read "x (javascript:…)", and its URL encoding would change the URL
  // that the reader is shown.
  md.validateLink = () => true;
  md.normalizeLink = (url) => url;
  md.normalizeLinkText = (url) => url;
  // Before all other block rules, so that it wins at the deepest level.
  md.block.ruler.before("table", "literal_at_max_level", literalAtMaxLevel);
  return md;
}

const UNDERSCORE = 95;
const TILDE = 126;

/// Leaves trailing `_` and `~` out of a bare URL, as GitHub does and markdown-it does
/// for `*`, so that `~~https://old.example~~` strikes the URL.
function withoutClosingDelimiters(match: { url: string; text: string; lastIndex: number }): void {
  const { url } = match;
  let end = url.length;
  while (end > 0 && (url.charCodeAt(end - 1) === UNDERSCORE || url.charCodeAt(end - 1) === TILDE)) end--;
  const cut = url.length - end;
  if (cut === 0) return;
  match.url = url.slice(0, end);
  match.text = match.text.slice(0, match.text.length - cut);
  match.lastIndex -= cut;
}

/// At MAX_CONTAINER_LEVEL, the container's next lines up to a blank one are a plain
/// paragraph, so no deeper blockquote or list opens.
function literalAtMaxLevel(state: StateBlock, startLine: number, endLine: number): boolean {
  if (state.level < MAX_CONTAINER_LEVEL) return false;
  let end = startLine + 1;
  // A line belongs to the container when indented as its content, or when markdown-it
  // marked it as a lazy continuation of a blockquote (a negative indentation).
  while (end < endLine && !state.isEmpty(end) && (state.sCount[end] >= state.blkIndent || state.sCount[end] < 0)) {
    end++;
  }
  state.push("paragraph_open", "p", 1).map = [startLine, end];
  const inline = state.push("inline", "", 0);
  inline.content = state.getLines(startLine, end, state.blkIndent, false).trim();
  inline.map = [startLine, end];
  inline.children = [];
  state.push("paragraph_close", "p", -1);
  state.line = end;
  return true;
}

/// Parses markdown into a tree of allowed elements and text. Never throws.
export function parseMarkdown(source: string): MdNode[] {
  try {
    return tokensToTree(parser.parse(source, {}));
  } catch {
    // Not expected; should it happen, the text is still shown, as text.
    return source.length > 0 ? [element("p", [text(source)])] : [];
  }
}

// -- tokens to tree -------------------------------------------------------------

/// The elements of open tokens, but for links and headings.
const ELEMENT_TAGS = new Map<string, MdTag>([
  ["paragraph_open", "p"],
  ["blockquote_open", "blockquote"],
  ["bullet_list_open", "ul"],
  ["ordered_list_open", "ol"],
  ["list_item_open", "li"],
  ["table_open", "table"],
  ["thead_open", "thead"],
  ["tbody_open", "tbody"],
  ["tr_open", "tr"],
  ["th_open", "th"],
  ["td_open", "td"],
  ["strong_open", "strong"],
  ["em_open", "em"],
  ["s_open", "del"],
]);

/// Where the content of an open token goes until its closing token.
interface Frame {
  /// The children of the element made for the token, or, when none is made, the
  /// parent's children: the content then stands in the token's place.
  children: MdNode[];
  /// Elements above `children`.
  depth: number;
  inLink: boolean;
  /// Text added after the content when the token closes (the delimiters of emphasis
  /// too deep to be an element, the URL of an image or of a link not followed).
  after: string;
}

/// A list of tokens being read: the document's, or the children of an inline or an
/// image token. The frames it opened are closed when it ends, whatever its tokens.
interface Cursor {
  tokens: Token[];
  next: number;
  frameCount: number;
}

/// The tree of a token stream: elements only from the fixed list, links only to safe
/// URLs, nothing deeper than MAX_DEPTH, and any other token as its text. Made without
/// recursion, so no input can exhaust the stack. Exported for tests that feed it
/// tokens `parseMarkdown`'s parser does not make.
export function tokensToTree(tokens: Token[]): MdNode[] {
  const root: Frame = { children: [], depth: 0, inLink: false, after: "" };
  const frames: Frame[] = [root];
  const cursors: Cursor[] = [{ tokens, next: 0, frameCount: frames.length }];
  const close = (): void => {
    const frame = frames.pop()!;
    pushText(frames[frames.length - 1].children, frame.after);
  };
  while (cursors.length > 0) {
    const cursor = cursors[cursors.length - 1];
    const token = cursor.tokens[cursor.next++];
    if (token === undefined) {
      cursors.pop();
      while (frames.length > cursor.frameCount) close();
      continue;
    }
    const parent = frames[frames.length - 1];
    if (token.nesting === 1) {
      frames.push(openFrame(token, parent, cursor));
    } else if (token.nesting === -1) {
      if (frames.length > cursor.frameCount) close();
    } else if (token.type === "inline") {
      cursors.push({ tokens: token.children ?? [], next: 0, frameCount: frames.length });
    } else if (token.type === "image") {
      // Never loaded: its description, then its URL, as text.
      const description = token.children ?? [];
      cursors.push({ tokens: description, next: 0, frameCount: frames.length });
      frames.push(inPlace(parent, urlTail(String(token.attrGet("src") ?? ""), plainLabel(description, 0))));
    } else {
      addLeaf(token, parent);
    }
  }
  return root.children;
}

/// A frame whose content stands in place of its token, in the parent.
function inPlace(parent: Frame, after: string): Frame {
  return { children: parent.children, depth: parent.depth, inLink: parent.inLink, after };
}

/// A frame for a new element in the parent, or null when it would be too deep.
function inElement(parent: Frame, tag: MdTag, extra?: Partial<MdElement>): Frame | null {
  if (parent.depth >= MAX_DEPTH) return null;
  const made = element(tag, [], extra);
  parent.children.push(made);
  return { children: made.children, depth: parent.depth + 1, inLink: parent.inLink || tag === "a", after: "" };
}

function openFrame(token: Token, parent: Frame, cursor: Cursor): Frame {
  if (token.hidden) return inPlace(parent, ""); // the paragraph of a tight list item
  if (token.type === "link_open") return linkFrame(token, parent, cursor);
  if (token.type === "heading_open") {
    const tag = HEADING_TAGS[Number(token.tag.slice(1)) - 1];
    return (tag && inElement(parent, tag)) || inPlace(parent, "");
  }
  const tag = ELEMENT_TAGS.get(token.type);
  if (tag === undefined) return inPlace(parent, "");
  let extra: Partial<MdElement> | undefined;
  if (tag === "ol") {
    const start = Number(token.attrGet("start") ?? 1);
    if (Number.isSafeInteger(start) && start !== 1) extra = { start };
  }
  const frame = inElement(parent, tag, extra);
  if (frame) return frame;
  // Emphasis too deep to nest shows its delimiters around its text.
  pushText(parent.children, token.markup);
  return inPlace(parent, token.markup);
}

function linkFrame(token: Token, parent: Frame, cursor: Cursor): Frame {
  // A link may not contain another (an image's description in a link may hold one):
  // the inner one keeps its text only.
  if (parent.inLink) return inPlace(parent, "");
  const url = String(token.attrGet("href") ?? "");
  const href = safeHref(url);
  if (href !== undefined) return inElement(parent, "a", { href }) ?? inPlace(parent, "");
  if (token.markup === "autolink") {
    // `<scheme:…>` it will not follow reads as written.
    pushText(parent.children, "<");
    return inPlace(parent, ">");
  }
  return inPlace(parent, urlTail(url, plainLabel(cursor.tokens, cursor.next)));
}

/// The text of the label of a link or an image, starting at `tokens[from]`, when it is
/// plain text: "" when it is empty, undefined when it holds any markup.
function plainLabel(tokens: Token[], from: number): string | undefined {
  const first = tokens[from];
  if (first === undefined || first.type === "link_close") return "";
  const second = tokens[from + 1];
  const ended = second === undefined || second.type === "link_close";
  return first.type === "text" && ended ? first.content : undefined;
}

/// What follows the text of an image or of a link that is not followed: the URL as
/// text, so the reader still sees where it points. Alone when there is no text (`label`
/// is ""), left out when the text is the URL (`label` is the text when it is plain).
function urlTail(url: string, label: string | undefined): string {
  if (url === "" || label === url) return "";
  return label === "" ? url : ` (${url})`;
}

function addLeaf(token: Token, parent: Frame): void {
  const out = parent.children;
  switch (token.type) {
    case "text":
      pushText(out, token.content);
      return;
    case "softbreak":
      pushText(out, "\n");
      return;
    case "hardbreak":
      if (!inElement(parent, "br")) pushText(out, "\n");
      return;
    case "hr":
      if (!inElement(parent, "hr")) pushText(out, token.markup);
      return;
    case "code_inline":
      pushText((inElement(parent, "code") ?? parent).children, token.content);
      return;
    case "fence":
    case "code_block": {
      const language = token.type === "fence" ? fenceLanguage(token.info) : undefined;
      const pre = inElement(parent, "pre");
      const code = pre && inElement(pre, "code", language ? { language } : undefined);
      pushText((code ?? pre ?? parent).children, withoutFinalNewline(token.content));
      return;
    }
    default: {
      // A token this file does not know (raw HTML, should it ever be parsed): its text,
      // as a paragraph of its own when it stood for a block.
      const content = token.block ? withoutFinalNewline(token.content) : token.content;
      const paragraph = token.block && content ? inElement(parent, "p") : null;
      pushText((paragraph ?? parent).children, content);
    }
  }
}

/// The content of a block token ends with the newline of its last line.
function withoutFinalNewline(content: string): string {
  return content.endsWith("\n") ? content.slice(0, -1) : content;
}

/// The first word of a fence's info string, when it looks like a language name.
function fenceLanguage(info: string): string | undefined {
  const trimmed = info.trim();
  const word = trimmed.slice(0, trimmed.search(/[\s,{]|$/));
  return /^[\w+#.-]{1,32}$/.test(word) ? word : undefined;
}

/// Appends text, merged into the last node when that is text.
function pushText(out: MdNode[], value: string): void {
  if (!value) return;
  const last = out[out.length - 1];
  if (last && last.kind === "text") last.text += value;
  else out.push(text(value));
}

// -- plain text -----------------------------------------------------------------

const BLOCK_TAGS = new Set<MdTag>([
  "p",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "pre",
  "ul",
  "ol",
  "li",
  "blockquote",
  "hr",
  "table",
  "thead",
  "tbody",
  "tr",
  "th",
  "td",
]);

/// The text of a tree, for copying and searching: blocks separated by a blank line,
/// list items and table rows by a newline, table cells by a tab. No markup is added
/// (no bullets or numbers), so the text of a plain-text message is that message.
export function markdownToText(nodes: MdNode[]): string {
  return joinText(nodes, "\n\n");
}

function joinText(nodes: MdNode[], separator: string): string {
  const parts: string[] = [];
  let inline = "";
  for (const node of nodes) {
    if (node.kind === "element" && BLOCK_TAGS.has(node.tag)) {
      if (inline) parts.push(inline);
      inline = "";
      const value = nodeText(node);
      // Empty cells still hold their column.
      if (value || node.tag === "th" || node.tag === "td") parts.push(value);
    } else {
      inline += nodeText(node);
    }
  }
  if (inline) parts.push(inline);
  return parts.join(separator);
}

function nodeText(node: MdNode): string {
  if (node.kind === "text") return node.text;
  switch (node.tag) {
    case "br":
      return "\n";
    case "hr":
      return "";
    case "ul":
    case "ol":
    case "li":
    case "table":
    case "thead":
    case "tbody":
      return joinText(node.children, "\n");
    case "tr":
      return joinText(node.children, "\t");
    case "blockquote":
      return joinText(node.children, "\n\n");
    default:
      return node.children.map(nodeText).join("");
  }
}

// -- rendering ------------------------------------------------------------------

const RENDERED_TAGS = new Set<MdTag>([...BLOCK_TAGS, "strong", "em", "code", "a", "br", "del"]);

function renderNodes(nodes: MdNode[]): ComponentChild[] {
  return nodes.map(renderNode);
}

function renderNode(node: MdNode): ComponentChild {
  if (node.kind === "text") return node.text; // a text child: Preact escapes it
  const children = renderNodes(node.children);
  if (!RENDERED_TAGS.has(node.tag)) return children;
  switch (node.tag) {
    case "a": {
      // The parser only makes such links; checked again so that no other tree can
      // smuggle a URL into the DOM.
      const href = node.href !== undefined && SAFE_SCHEME.test(node.href) ? node.href : undefined;
      if (href === undefined) return children;
      // The app intercepts clicks on links and opens data-href outside the window.
      return (
        <a href={href} data-href={href} target="_blank" rel="noreferrer noopener">
          {children}
        </a>
      );
    }
    case "code":
      return <code data-language={node.language}>{children}</code>;
    case "ol":
      return <ol start={node.start}>{children}</ol>;
    case "hr":
      return <hr />;
    case "br":
      return <br />;
    default:
      return h(node.tag, null, children);
  }
}

const CACHE_ENTRIES = 256;
const CACHE_CHARS = 8 * 1024 * 1024;
/// Parsed trees by source, least recently used first: a transcript re-renders its
/// messages often and they rarely change once complete.
const parseCache = new Map<string, MdNode[]>();
let cachedChars = 0;

function parseCached(source: string): MdNode[] {
  const hit = parseCache.get(source);
  if (hit) {
    parseCache.delete(source);
    parseCache.set(source, hit);
    return hit;
  }
  const nodes = parseMarkdown(source);
  if (source.length <= CACHE_CHARS / 8) {
    parseCache.set(source, nodes);
    cachedChars += source.length;
    for (const key of parseCache.keys()) {
      if (parseCache.size <= CACHE_ENTRIES && cachedChars <= CACHE_CHARS) break;
      parseCache.delete(key);
      cachedChars -= key.length;
    }
  }
  return nodes;
}

/// Agent output rendered as sanitized markdown, in a `div.markdown`.
export function Markdown(props: { source: string }): VNode {
  return <div class="markdown">{renderNodes(parseCached(props.source))}</div>;
}
