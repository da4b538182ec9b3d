// Markdown for agent transcripts. Agent output is untrusted, so it never reaches the
// DOM as HTML: `parseMarkdown` turns it into a small tree of plain objects whose tags
// come from a fixed list, and `Markdown` renders that tree with Preact, text as text
// children. Raw HTML is shown as the literal text it is, images are never loaded, and
// links keep their URL only when it is http, https or mailto.
//
// The parser is a CommonMark/GFM subset written for bounded work: every scan either
// moves forward or is memoized, nesting is capped, and no regular expression can
// backtrack, because a single agent line can be megabytes long.

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

/// Blockquotes and lists nested deeper than this are shown as their literal text.
const MAX_BLOCK_DEPTH = 16;
/// Emphasis and links nested deeper than this are shown with their literal delimiters.
/// Together the two caps bound the depth of the tree, so nothing recurses without end.
const MAX_INLINE_DEPTH = 16;

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

// -- characters -----------------------------------------------------------------

const TAB = 9;
const NEWLINE = 10;
const SPACE = 32;
const BANG = 33;
const QUOTE = 34;
const HASH = 35;
const AMP = 38;
const APOS = 39;
const LPAREN = 40;
const RPAREN = 41;
const STAR = 42;
const PLUS = 43;
const DASH = 45;
const DOT = 46;
const COLON = 58;
const SEMICOLON = 59;
const LT = 60;
const EQUALS = 61;
const GT = 62;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const UNDERSCORE = 95;
const BACKTICK = 96;
const PIPE = 124;
const TILDE = 126;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isAlphanumeric(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isAsciiPunctuation(c: number): boolean {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

const UNICODE_WHITESPACE = /\s/;
const UNICODE_PUNCTUATION = /[\p{P}\p{S}]/u;

/// Whitespace for the flanking rules; undefined is the start or end of the text.
function isWhitespace(cp: number | undefined): boolean {
  if (cp === undefined) return true;
  if (cp < 128) return cp === SPACE || (cp >= TAB && cp <= 13);
  return UNICODE_WHITESPACE.test(String.fromCodePoint(cp));
}

function isPunctuation(cp: number | undefined): boolean {
  if (cp === undefined) return false;
  if (cp < 128) return isAsciiPunctuation(cp);
  return UNICODE_PUNCTUATION.test(String.fromCodePoint(cp));
}

function codePointBefore(s: string, index: number): number | undefined {
  if (index <= 0) return undefined;
  const low = s.charCodeAt(index - 1);
  if (low >= 0xdc00 && low <= 0xdfff && index >= 2) {
    const high = s.charCodeAt(index - 2);
    if (high >= 0xd800 && high <= 0xdbff) return s.codePointAt(index - 2);
  }
  return low;
}

// The HTML entities agents actually write; any other `&name;` stays literal text.
const NAMED_ENTITIES = new Map<string, string>([
  ["amp", "&"],
  ["lt", "<"],
  ["gt", ">"],
  ["quot", '"'],
  ["apos", "'"],
  ["nbsp", "\u00a0"],
  ["copy", "©"],
  ["reg", "®"],
  ["trade", "™"],
  ["hellip", "…"],
  ["mdash", "—"],
  ["ndash", "–"],
  ["lsquo", "‘"],
  ["rsquo", "’"],
  ["ldquo", "“"],
  ["rdquo", "”"],
  ["bull", "•"],
  ["middot", "·"],
  ["times", "×"],
  ["divide", "÷"],
  ["larr", "←"],
  ["rarr", "→"],
  ["uarr", "↑"],
  ["darr", "↓"],
  ["harr", "↔"],
  ["le", "≤"],
  ["ge", "≥"],
  ["ne", "≠"],
  ["deg", "°"],
  ["plusmn", "±"],
]);

/// The entity reference starting at `s[i]` (an `&`), decoded, and where it ends.
function matchEntity(s: string, i: number): { value: string; end: number } | null {
  let j = i + 1;
  if (s.charCodeAt(j) === HASH) {
    j++;
    const hex = s.charCodeAt(j) === 120 || s.charCodeAt(j) === 88; // x or X
    if (hex) j++;
    const digits = j;
    while (j - digits < 8 && (hex ? isHexDigit(s.charCodeAt(j)) : isDigit(s.charCodeAt(j)))) j++;
    const length = j - digits;
    if (length === 0 || length > (hex ? 6 : 7) || s.charCodeAt(j) !== SEMICOLON) return null;
    let cp = parseInt(s.slice(digits, j), hex ? 16 : 10);
    if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
    return { value: String.fromCodePoint(cp), end: j + 1 };
  }
  const name = j;
  while (j - name < 32 && isAlphanumeric(s.charCodeAt(j))) j++;
  if (j === name || s.charCodeAt(j) !== SEMICOLON) return null;
  const value = NAMED_ENTITIES.get(s.slice(name, j));
  return value === undefined ? null : { value, end: j + 1 };
}

/// Backslash escapes and entities resolved, as in a link destination.
function unescapeText(s: string): string {
  if (!s.includes("\\") && !s.includes("&")) return s;
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH && isAsciiPunctuation(s.charCodeAt(i + 1))) {
      parts.push(s.slice(from, i));
      from = i + 1; // keep the escaped character, drop the backslash
      i++;
    } else if (c === AMP) {
      const entity = matchEntity(s, i);
      if (entity) {
        parts.push(s.slice(from, i), entity.value);
        from = entity.end;
        i = entity.end - 1;
      }
    }
  }
  parts.push(s.slice(from));
  return parts.join("");
}

// -- lines --------------------------------------------------------------------

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== SPACE && c !== TAB) return false;
  }
  return true;
}

/// Columns of leading whitespace (a tab advances to the next multiple of 4) and the
/// index of the first other character.
function leading(line: string): [cols: number, index: number] {
  let cols = 0;
  let i = 0;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === SPACE) cols++;
    else if (c === TAB) cols += 4 - (cols % 4);
    else break;
  }
  return [cols, i];
}

function indentOf(line: string): number {
  return leading(line)[0];
}

function stripLeading(line: string): string {
  return line.slice(leading(line)[1]);
}

/// `line` without up to `cols` columns of leading whitespace; a tab that straddles the
/// boundary leaves its remaining columns as spaces.
function stripIndent(line: string, cols: number): string {
  let col = 0;
  let i = 0;
  while (col < cols && i < line.length) {
    const c = line.charCodeAt(i);
    if (c === SPACE) col++;
    else if (c === TAB) {
      const width = 4 - (col % 4);
      if (col + width > cols) return " ".repeat(col + width - cols) + line.slice(i + 1);
      col += width;
    } else break;
    i++;
  }
  return line.slice(i);
}

interface Fence {
  char: number;
  length: number;
  indent: number;
  language?: string;
}

function fenceOpen(line: string): Fence | null {
  const [cols, i] = leading(line);
  if (cols > 3) return null;
  const c = line.charCodeAt(i);
  if (c !== BACKTICK && c !== TILDE) return null;
  let j = i;
  while (line.charCodeAt(j) === c) j++;
  if (j - i < 3) return null;
  const info = line.slice(j).trim();
  // ``` followed by more backticks on the line is inline code, not a fence.
  if (c === BACKTICK && info.includes("`")) return null;
  const word = info.slice(0, info.search(/[\s,{]|$/));
  const language = /^[\w+#.-]{1,32}$/.test(word) ? word : undefined;
  return { char: c, length: j - i, indent: cols, language };
}

function isFenceClose(line: string, fence: Fence): boolean {
  const [cols, i] = leading(line);
  if (cols > 3) return false;
  let j = i;
  while (line.charCodeAt(j) === fence.char) j++;
  return j - i >= fence.length && isBlank(line.slice(j));
}

function atxHeading(line: string): { level: number; content: string } | null {
  const [cols, i] = leading(line);
  if (cols > 3) return null;
  let j = i;
  while (j - i < 7 && line.charCodeAt(j) === HASH) j++;
  const level = j - i;
  if (level < 1 || level > 6) return null;
  if (j < line.length && line.charCodeAt(j) !== SPACE && line.charCodeAt(j) !== TAB) return null;
  let content = line.slice(j).trim();
  // An optional closing run of #s, when separated by a space.
  let k = content.length;
  while (k > 0 && content.charCodeAt(k - 1) === HASH) k--;
  if (k === 0) content = "";
  else if (k < content.length && (content.charCodeAt(k - 1) === SPACE || content.charCodeAt(k - 1) === TAB)) {
    content = content.slice(0, k).trim();
  }
  return { level, content };
}

function isThematicBreak(line: string): boolean {
  const [cols, i] = leading(line);
  if (cols > 3) return false;
  const c = line.charCodeAt(i);
  if (c !== STAR && c !== DASH && c !== UNDERSCORE) return false;
  let count = 0;
  for (let j = i; j < line.length; j++) {
    const d = line.charCodeAt(j);
    if (d === c) count++;
    else if (d !== SPACE && d !== TAB) return false;
  }
  return count >= 3;
}

/// 1 for a `===` underline, 2 for `---`, 0 for anything else.
function setextLevel(line: string): number {
  const [cols, i] = leading(line);
  if (cols > 3) return 0;
  const c = line.charCodeAt(i);
  if (c !== EQUALS && c !== DASH) return 0;
  let j = i;
  while (line.charCodeAt(j) === c) j++;
  if (!isBlank(line.slice(j))) return 0;
  return c === EQUALS ? 1 : 2;
}

/// The rest of a `>` line, or null when the line does not start a blockquote.
function quoteContent(line: string): string | null {
  const [cols, i] = leading(line);
  if (cols > 3 || line.charCodeAt(i) !== GT) return null;
  const next = line.charCodeAt(i + 1);
  if (next === SPACE) return line.slice(i + 2);
  if (next === TAB) {
    // The tab counts as the optional space; keep the rest of its width.
    const width = 4 - ((cols + 1) % 4);
    return " ".repeat(width - 1) + line.slice(i + 2);
  }
  return line.slice(i + 1);
}

interface ListMarker {
  ordered: boolean;
  /// The bullet (`-`, `*`, `+`) or the delimiter after the number (`.`, `)`).
  marker: number;
  start: number;
  /// Column at which the item's content, and its continuation lines, begin.
  contentIndent: number;
  /// The first line of the item's content.
  content: string;
  empty: boolean;
}

function listMarker(line: string): ListMarker | null {
  const [cols, i] = leading(line);
  if (cols > 3) return null;
  const c = line.charCodeAt(i);
  let j: number;
  let ordered = false;
  let start = 1;
  let marker = c;
  if (c === DASH || c === STAR || c === PLUS) {
    j = i + 1;
  } else if (isDigit(c)) {
    j = i;
    while (j - i < 10 && isDigit(line.charCodeAt(j))) j++;
    if (j - i > 9) return null;
    marker = line.charCodeAt(j);
    if (marker !== DOT && marker !== RPAREN) return null;
    ordered = true;
    start = parseInt(line.slice(i, j), 10);
    j++;
  } else {
    return null;
  }
  if (j < line.length && line.charCodeAt(j) !== SPACE && line.charCodeAt(j) !== TAB) return null;
  const markerEnd = cols + (j - i);
  let col = markerEnd;
  let k = j;
  for (; k < line.length; k++) {
    const d = line.charCodeAt(k);
    if (d === SPACE) col++;
    else if (d === TAB) col += 4 - (col % 4);
    else break;
  }
  const empty = k >= line.length;
  // Five or more spaces after the marker: the content is indented code one space in.
  const contentIndent = empty || col - markerEnd > 4 ? markerEnd + 1 : col;
  // The marker replaced by spaces keeps the columns (and so the tabs) right.
  const content = empty ? "" : stripIndent(" ".repeat(markerEnd) + line.slice(j), contentIndent);
  return { ordered, marker, start, contentIndent, content, empty };
}

/// Cells of a table row: split at unescaped pipes, outer pipes dropped, `\|` kept as `|`.
function splitRow(line: string): string[] {
  const s = line.trim();
  let start = 0;
  let end = s.length;
  if (s.charCodeAt(0) === PIPE) start = 1;
  if (end > start && s.charCodeAt(end - 1) === PIPE && s.charCodeAt(end - 2) !== BACKSLASH) end--;
  const cells: string[] = [];
  let cell = "";
  let from = start;
  for (let j = start; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c === BACKSLASH) {
      if (s.charCodeAt(j + 1) === PIPE) {
        cell += s.slice(from, j);
        from = j + 1;
      }
      j++; // the escaped character is never a separator
    } else if (c === PIPE) {
      cells.push((cell + s.slice(from, j)).trim());
      cell = "";
      from = j + 1;
    }
  }
  cells.push((cell + s.slice(from, end)).trim());
  return cells;
}

function isDelimiterRow(line: string): boolean {
  if (indentOf(line) > 3) return false;
  let pipe = false;
  let dash = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === PIPE) pipe = true;
    else if (c === DASH) dash = true;
    else if (c !== COLON && c !== SPACE && c !== TAB) return false;
  }
  return pipe && dash && splitRow(line).every((cell) => /^:?-+:?$/.test(cell));
}

/// The header cells when a table starts at `lines[i]` (a row, then a delimiter row
/// with as many cells). Both must contain a pipe, so `Title` over `---` stays a heading.
function tableStart(lines: string[], i: number): string[] | null {
  const line = lines[i];
  const next = lines[i + 1];
  if (next === undefined || indentOf(line) > 3 || !line.includes("|") || !isDelimiterRow(next)) return null;
  const header = splitRow(line);
  return header.length === splitRow(next).length ? header : null;
}

/// Whether the block structure (fence, heading, rule, quote, list, table) starting at
/// `lines[i]` ends a paragraph running into it.
function interruptsParagraph(lines: string[], i: number, depth: number): boolean {
  const line = lines[i];
  if (indentOf(line) > 3) return false;
  if (fenceOpen(line) || atxHeading(line) || isThematicBreak(line)) return true;
  if (depth < MAX_BLOCK_DEPTH) {
    if (quoteContent(line) !== null) return true;
    const marker = listMarker(line);
    // Only a non-empty bullet or "1." may interrupt, so "2024. was…" stays text.
    if (marker && !marker.empty && (!marker.ordered || marker.start === 1)) return true;
  }
  return tableStart(lines, i) !== null;
}

/// Whether a line may be followed by a "lazy" continuation line (one that lost the
/// `>` or the indentation of its container but still continues its paragraph).
function continuesLazily(previous: string): boolean {
  return (
    !isBlank(previous) &&
    indentOf(previous) < 4 &&
    !atxHeading(previous) &&
    !isThematicBreak(previous) &&
    !fenceOpen(previous)
  );
}

/// Follows the lines of a container to know whether one is inside a fenced code block.
class FenceTracker {
  private open: Fence | null = null;

  feed(line: string): void {
    if (this.open) {
      if (isFenceClose(line, this.open)) this.open = null;
    } else {
      this.open = fenceOpen(line);
    }
  }

  get inside(): boolean {
    return this.open !== null;
  }
}

// -- blocks -------------------------------------------------------------------

/// Parses markdown into a tree of allowed elements and text. Never throws, and takes
/// time about linear in the size of `source`.
export function parseMarkdown(source: string): MdNode[] {
  try {
    const lines = source.replace(/\0/g, "\uFFFD").split(/\r\n|\r|\n/);
    return parseBlocks(lines, 0);
  } catch {
    // Not expected; should it happen, the text is still shown, as text.
    return source.length > 0 ? [element("p", [text(source)])] : [];
  }
}

function parseBlocks(lines: string[], depth: number): MdElement[] {
  const out: MdElement[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i++;
      continue;
    }
    if (indentOf(line) >= 4) {
      i = indentedCode(lines, i, out);
      continue;
    }
    const fence = fenceOpen(line);
    if (fence) {
      i = fencedCode(lines, i, fence, out);
      continue;
    }
    const heading = atxHeading(line);
    if (heading) {
      out.push(element(HEADING_TAGS[heading.level - 1], parseInline(heading.content)));
      i++;
      continue;
    }
    if (isThematicBreak(line)) {
      out.push(element("hr", []));
      i++;
      continue;
    }
    if (depth < MAX_BLOCK_DEPTH) {
      if (quoteContent(line) !== null) {
        i = blockquote(lines, i, out, depth);
        continue;
      }
      const marker = listMarker(line);
      if (marker) {
        i = list(lines, i, marker, out, depth);
        continue;
      }
    }
    const header = tableStart(lines, i);
    if (header) {
      i = table(lines, i, header, out, depth);
      continue;
    }
    i = paragraph(lines, i, out, depth);
  }
  return out;
}

function codeBlock(content: string, language: string | undefined): MdElement {
  const code = element("code", content ? [text(content)] : [], language ? { language } : undefined);
  return element("pre", [code]);
}

function indentedCode(lines: string[], i: number, out: MdElement[]): number {
  const body: string[] = [];
  let j = i;
  for (; j < lines.length; j++) {
    const line = lines[j];
    if (!isBlank(line) && indentOf(line) < 4) break;
    body.push(stripIndent(line, 4));
  }
  while (body.length > 0 && isBlank(body[body.length - 1])) body.pop();
  out.push(codeBlock(body.join("\n"), undefined));
  return j;
}

/// A fenced code block; without its closing fence it runs to the end of its container.
function fencedCode(lines: string[], i: number, fence: Fence, out: MdElement[]): number {
  const body: string[] = [];
  let j = i + 1;
  for (; j < lines.length; j++) {
    if (isFenceClose(lines[j], fence)) {
      out.push(codeBlock(body.join("\n"), fence.language));
      return j + 1;
    }
    body.push(stripIndent(lines[j], fence.indent));
  }
  out.push(codeBlock(body.join("\n"), fence.language));
  return j;
}

function blockquote(lines: string[], i: number, out: MdElement[], depth: number): number {
  const inner: string[] = [];
  const fence = new FenceTracker();
  let j = i;
  for (; j < lines.length; j++) {
    const line = lines[j];
    const content = quoteContent(line);
    if (content !== null) {
      inner.push(content);
      fence.feed(content);
      continue;
    }
    if (
      !isBlank(line) &&
      !fence.inside &&
      continuesLazily(inner[inner.length - 1]) &&
      !interruptsParagraph(lines, j, depth)
    ) {
      inner.push(line);
      continue;
    }
    break;
  }
  out.push(element("blockquote", parseBlocks(inner, depth + 1)));
  return j;
}

function list(lines: string[], i: number, first: ListMarker, out: MdElement[], depth: number): number {
  const items: string[][] = [];
  // A loose list (blank lines between or inside its items) keeps its items'
  // paragraphs; a tight one shows their text directly in the items.
  let loose = false;
  let marker = first;
  let j = i;
  for (;;) {
    const item = [marker.content];
    const fence = new FenceTracker();
    fence.feed(marker.content);
    let blankInside = false;
    j++;
    for (; j < lines.length; j++) {
      const line = lines[j];
      if (isBlank(line)) {
        // An item may start with one blank line, not two.
        if (marker.empty && item.length === 1) break;
        item.push("");
        continue;
      }
      if (indentOf(line) >= marker.contentIndent) {
        const content = stripIndent(line, marker.contentIndent);
        if (item[item.length - 1] === "" && !fence.inside) blankInside = true;
        item.push(content);
        fence.feed(content);
        continue;
      }
      if (
        !fence.inside &&
        continuesLazily(item[item.length - 1]) &&
        !isThematicBreak(line) &&
        !listMarker(line) &&
        !interruptsParagraph(lines, j, depth)
      ) {
        item.push(line);
        continue;
      }
      break;
    }
    // Blank lines at the end separate this item from the next, or end the list.
    let trailingBlank = false;
    while (item.length > 1 && item[item.length - 1] === "") {
      item.pop();
      trailingBlank = true;
    }
    if (blankInside) loose = true;
    items.push(item);
    if (j >= lines.length || isThematicBreak(lines[j])) break;
    const next = listMarker(lines[j]);
    if (!next || next.ordered !== first.ordered || next.marker !== first.marker) break;
    if (trailingBlank) loose = true;
    marker = next;
  }
  const children = items.map((itemLines) => {
    const blocks: MdNode[] = parseBlocks(itemLines, depth + 1);
    return element("li", loose ? blocks : blocks.flatMap((b) => (b.kind === "element" && b.tag === "p" ? b.children : [b])));
  });
  const extra = first.ordered && first.start !== 1 ? { start: first.start } : undefined;
  out.push(element(first.ordered ? "ol" : "ul", children, extra));
  return j;
}

function table(lines: string[], i: number, header: string[], out: MdElement[], depth: number): number {
  const columns = header.length;
  const head = element("tr", header.map((cell) => element("th", parseInline(cell))));
  const rows: MdElement[] = [];
  let j = i + 2;
  for (; j < lines.length; j++) {
    const line = lines[j];
    // Unlike GFM, a row needs a pipe: a paragraph right under a table stays a paragraph.
    if (isBlank(line) || !line.includes("|") || interruptsParagraph(lines, j, depth)) break;
    const cells = splitRow(line).slice(0, columns);
    while (cells.length < columns) cells.push("");
    rows.push(element("tr", cells.map((cell) => element("td", parseInline(cell)))));
  }
  const sections = [element("thead", [head])];
  if (rows.length > 0) sections.push(element("tbody", rows));
  out.push(element("table", sections));
  return j;
}

function paragraph(lines: string[], i: number, out: MdElement[], depth: number): number {
  const body = [stripLeading(lines[i])];
  let j = i + 1;
  for (; j < lines.length; j++) {
    const line = lines[j];
    if (isBlank(line)) break;
    const level = setextLevel(line);
    if (level > 0) {
      out.push(element(HEADING_TAGS[level - 1], parseInline(body.join("\n").trimEnd())));
      return j + 1;
    }
    if (interruptsParagraph(lines, j, depth)) break;
    body.push(stripLeading(line));
  }
  out.push(element("p", parseInline(body.join("\n").trimEnd())));
  return j;
}

// -- inlines --------------------------------------------------------------------

/// "group" is a transparent container: its children go to its parent, followed by
/// its `text` (the URL of an image or of a link that may not be followed).
type InlineTag = "em" | "strong" | "del" | "code" | "a" | "br" | "group";

/// A node of the inline parser's working list. Siblings are doubly linked so that a
/// run of them can be moved under a new parent in constant time.
class Inline {
  prev: Inline | null = null;
  next: Inline | null = null;
  first: Inline | null = null;
  last: Inline | null = null;
  /// Set on the text of a `*`, `_` or `~~` run that may still open or close emphasis.
  delimiter: Delimiter | null = null;
  href?: string;

  constructor(
    readonly tag: InlineTag | null,
    /// Literal text (tag null); the content of a code span; the delimiter of an
    /// em/strong/del, shown around its content should it be flattened; the tail of a group.
    public text = "",
  ) {}

  literal(): string {
    const d = this.delimiter;
    return d ? String.fromCharCode(d.char).repeat(d.count) : this.text;
  }

  append(node: Inline): void {
    node.prev = this.last;
    node.next = null;
    if (this.last) this.last.next = node;
    else this.first = node;
    this.last = node;
  }

  remove(node: Inline): void {
    if (node.prev) node.prev.next = node.next;
    else this.first = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.last = node.prev;
    node.prev = node.next = null;
  }
}

interface Delimiter {
  /// Increases along the stack, so "below" survives removals (unlike a pointer).
  id: number;
  node: Inline;
  char: number;
  /// Characters left in the run; `length` is what it had at first (rule of 3).
  count: number;
  length: number;
  canOpen: boolean;
  canClose: boolean;
  prev: Delimiter | null;
  next: Delimiter | null;
}

interface Bracket {
  id: number;
  node: Inline;
  image: boolean;
  /// The top of the delimiter stack when the bracket opened.
  below: Delimiter | null;
  prev: Bracket | null;
}

/// Sentinel of the link-destination table: the destination has unbalanced parentheses.
const UNBALANCED = -0x7fffffff;

/// One pass over the text, CommonMark style: code spans, autolinks, escapes and
/// entities as they come; `*`/`_`/`~~` runs and brackets on stacks resolved when a
/// link closes and at the end ("process emphasis", with its openers-bottom memo so
/// that a run of 100,000 stars stays linear).
class InlineParser {
  private readonly root = new Inline("group");
  private pos = 0;
  /// Start of the plain text not yet added to the list.
  private textStart = 0;
  private delimiterTop: Delimiter | null = null;
  private delimiterBottom: Delimiter | null = null;
  private delimiterIds = 0;
  private brackets: Bracket | null = null;
  private bracketIds = 0;
  /// `[` openers with an id below this are inactive: a link may not contain a link.
  private linkFloor = -1;
  /// Start positions of the backtick runs of each length, and how far each was used.
  private backtickRuns: Map<number, number[]> | null = null;
  private readonly backtickCursors = new Map<number, number>();
  /// See `destinationEnd`.
  private destinationEnds: Int32Array | null = null;

  constructor(private readonly src: string) {}

  run(): Inline {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      switch (c) {
        case NEWLINE:
          this.newline();
          break;
        case BACKSLASH:
          this.backslash();
          break;
        case BACKTICK:
          this.codeSpan();
          break;
        case STAR:
        case UNDERSCORE:
        case TILDE:
          this.delimiterRun(c);
          break;
        case LBRACKET:
          this.openBracket(false);
          break;
        case BANG:
          if (s.charCodeAt(this.pos + 1) === LBRACKET) this.openBracket(true);
          else this.pos++;
          break;
        case RBRACKET:
          this.closeBracket();
          break;
        case LT:
          this.autolink();
          break;
        case AMP:
          this.entity();
          break;
        default:
          this.pos++;
      }
    }
    this.flush();
    this.processEmphasis(null);
    return this.root;
  }

  /// Adds the pending plain text up to `pos`.
  private flush(): void {
    if (this.pos > this.textStart) this.root.append(new Inline(null, this.src.slice(this.textStart, this.pos)));
    this.textStart = this.pos;
  }

  /// Adds `node` in place of the source up to `end`.
  private emit(node: Inline, end: number): void {
    this.flush();
    this.root.append(node);
    this.pos = this.textStart = end;
  }

  private skipLineIndent(from: number): number {
    let p = from;
    while (this.src.charCodeAt(p) === SPACE || this.src.charCodeAt(p) === TAB) p++;
    return p;
  }

  private newline(): void {
    // Two or more spaces before the newline make a hard break; fewer are dropped, as
    // is the indentation of the next line.
    const at = this.pos;
    let end = at;
    while (end > this.textStart && this.src.charCodeAt(end - 1) === SPACE) end--;
    const next = this.src.charCodeAt(at + 1);
    if (end === at && next !== SPACE && next !== TAB) {
      this.pos++; // a plain soft break stays in the text
      return;
    }
    this.pos = end;
    this.flush();
    this.root.append(at - end >= 2 ? new Inline("br") : new Inline(null, "\n"));
    this.pos = this.textStart = this.skipLineIndent(at + 1);
  }

  private backslash(): void {
    const next = this.src.charCodeAt(this.pos + 1);
    if (next === NEWLINE) {
      this.emit(new Inline("br"), this.pos + 2);
      this.pos = this.textStart = this.skipLineIndent(this.pos);
    } else if (isAsciiPunctuation(next)) {
      this.emit(new Inline(null, this.src[this.pos + 1]), this.pos + 2);
    } else {
      this.pos++;
    }
  }

  private entity(): void {
    const entity = matchEntity(this.src, this.pos);
    if (entity) this.emit(new Inline(null, entity.value), entity.end);
    else this.pos++;
  }

  private codeSpan(): void {
    const s = this.src;
    const start = this.pos;
    let end = start;
    while (s.charCodeAt(end) === BACKTICK) end++;
    const length = end - start;
    const close = this.nextBacktickRun(length, end);
    if (close < 0) {
      this.pos = end; // no closing run of the same length: literal backticks
      return;
    }
    let body = s.slice(end, close).replace(/\n/g, " ");
    if (body.length >= 2 && body[0] === " " && body[body.length - 1] === " " && /[^ ]/.test(body)) {
      body = body.slice(1, -1);
    }
    this.emit(new Inline("code", body), close + length);
  }

  /// The next backtick run of exactly `length` starting at or after `from`, or -1.
  /// Runs are indexed once and each length's cursor only moves forward.
  private nextBacktickRun(length: number, from: number): number {
    if (!this.backtickRuns) {
      const runs = new Map<number, number[]>();
      const s = this.src;
      for (let i = 0; i < s.length; i++) {
        if (s.charCodeAt(i) !== BACKTICK) continue;
        const start = i;
        while (s.charCodeAt(i + 1) === BACKTICK) i++;
        const n = i - start + 1;
        let list = runs.get(n);
        if (!list) runs.set(n, (list = []));
        list.push(start);
      }
      this.backtickRuns = runs;
    }
    const runs = this.backtickRuns.get(length);
    if (!runs) return -1;
    let k = this.backtickCursors.get(length) ?? 0;
    while (k < runs.length && runs[k] < from) k++;
    this.backtickCursors.set(length, k);
    return k < runs.length ? runs[k] : -1;
  }

  private delimiterRun(char: number): void {
    const s = this.src;
    const start = this.pos;
    let end = start;
    while (s.charCodeAt(end) === char) end++;
    const count = end - start;
    // Only a double tilde strikes: "~5 min" and "~~~" stay text.
    if (char === TILDE && count !== 2) {
      this.pos = end;
      return;
    }
    const before = codePointBefore(s, start);
    const after = s.codePointAt(end);
    const spaceBefore = isWhitespace(before);
    const spaceAfter = isWhitespace(after);
    const punctBefore = isPunctuation(before);
    const punctAfter = isPunctuation(after);
    const leftFlanking = !spaceAfter && (!punctAfter || spaceBefore || punctBefore);
    const rightFlanking = !spaceBefore && (!punctBefore || spaceAfter || punctAfter);
    let canOpen = leftFlanking;
    let canClose = rightFlanking;
    if (char === UNDERSCORE) {
      // Not inside a word: snake_case_words keep their underscores.
      canOpen = leftFlanking && (!rightFlanking || punctBefore);
      canClose = rightFlanking && (!leftFlanking || punctAfter);
    }
    if (!canOpen && !canClose) {
      this.pos = end;
      return;
    }
    const node = new Inline(null);
    const delimiter: Delimiter = {
      id: this.delimiterIds++,
      node,
      char,
      count,
      length: count,
      canOpen,
      canClose,
      prev: this.delimiterTop,
      next: null,
    };
    node.delimiter = delimiter;
    if (this.delimiterTop) this.delimiterTop.next = delimiter;
    else this.delimiterBottom = delimiter;
    this.delimiterTop = delimiter;
    this.emit(node, end);
  }

  private removeDelimiter(d: Delimiter): void {
    if (d.prev) d.prev.next = d.next;
    else this.delimiterBottom = d.next;
    if (d.next) d.next.prev = d.prev;
    else this.delimiterTop = d.prev;
  }

  private openBracket(image: boolean): void {
    const node = new Inline(null, image ? "![" : "[");
    this.brackets = { id: this.bracketIds++, node, image, below: this.delimiterTop, prev: this.brackets };
    this.emit(node, this.pos + (image ? 2 : 1));
  }

  private closeBracket(): void {
    const opener = this.brackets;
    this.flush();
    this.pos++; // the "]" is literal text unless a link forms below
    if (!opener) return;
    this.brackets = opener.prev;
    if (!opener.image && opener.id < this.linkFloor) return;
    const destination = this.linkDestination(this.pos);
    if (!destination) return;

    this.processEmphasis(opener.below);
    const url = destination.url;
    const href = opener.image ? undefined : safeHref(url);
    let node: Inline;
    if (href) {
      node = new Inline("a");
      node.href = href;
    } else {
      // Images are never loaded and other links never followed: their text, then the
      // URL as text (alone when there is no text, left out when it is the text).
      node = new Inline("group", plainLinkTail(opener.node.next, url));
    }
    // Everything after the opener becomes the node's content, in the opener's place.
    const first = opener.node.next;
    if (first) {
      node.first = first;
      node.last = this.root.last;
      first.prev = null;
      opener.node.next = null;
      this.root.last = opener.node;
    }
    this.root.remove(opener.node);
    this.root.append(node);
    if (!opener.image) this.linkFloor = opener.id;
    this.pos = this.textStart = destination.end;
  }

  /// `(destination "optional title")` at `p`, right after a `]`.
  private linkDestination(p: number): { url: string; end: number } | null {
    const s = this.src;
    if (s.charCodeAt(p) !== LPAREN) return null;
    const q = this.skipSpace(p + 1);
    let url: string;
    let after: number;
    if (s.charCodeAt(q) === LT) {
      let k = q + 1;
      for (; k < s.length; k++) {
        const c = s.charCodeAt(k);
        if (c === GT) break;
        if (c === LT || c === NEWLINE) return null;
        if (c === BACKSLASH) k++;
      }
      if (k >= s.length) return null;
      url = s.slice(q + 1, k);
      after = k + 1;
    } else {
      const end = this.destinationEnd(q);
      if (end === UNBALANCED) return null;
      if (end >= 0) return { url: unescapeText(s.slice(q, end)), end: end + 1 };
      after = -end - 1;
      url = s.slice(q, after);
    }
    let k = this.skipSpace(after);
    if (s.charCodeAt(k) === RPAREN) return { url: unescapeText(url), end: k + 1 };
    if (k === after) return null; // a title must be separated by whitespace
    const open = s.charCodeAt(k);
    const close = open === QUOTE || open === APOS ? open : open === LPAREN ? RPAREN : -1;
    if (close < 0) return null;
    let t = k + 1;
    for (; t < s.length; t++) {
      const c = s.charCodeAt(t);
      if (c === close) break;
      if (open === LPAREN && c === LPAREN) return null;
      if (c === BACKSLASH) t++;
    }
    if (t >= s.length) return null;
    k = this.skipSpace(t + 1);
    if (s.charCodeAt(k) !== RPAREN) return null;
    return { url: unescapeText(url), end: k + 1 };
  }

  /// Spaces and tabs, and at most one newline.
  private skipSpace(from: number): number {
    const s = this.src;
    let p = from;
    let newline = false;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === SPACE || c === TAB) p++;
      else if (c === NEWLINE && !newline) {
        newline = true;
        p++;
      } else return p;
    }
  }

  /// Where a link destination starting at `q` ends: the index of the `)` closing the
  /// link, or `-1 - w` when it ends at whitespace (or the end of the text) `w`, or
  /// UNBALANCED. The table for all positions is filled once, right to left, so that
  /// input like `[a](b[a](b…` costs one pass rather than one scan per bracket.
  private destinationEnd(q: number): number {
    if (!this.destinationEnds) {
      const s = this.src;
      const n = s.length;
      const escaped = new Uint8Array(n + 1);
      for (let k = 1; k < n; k++) {
        if (s.charCodeAt(k - 1) === BACKSLASH && !escaped[k - 1]) escaped[k] = 1;
      }
      const ends = new Int32Array(n + 1);
      ends[n] = -1 - n;
      for (let k = n - 1; k >= 0; k--) {
        const c = s.charCodeAt(k);
        if (c <= SPACE || c === 0x7f) ends[k] = -1 - k;
        else if (escaped[k]) ends[k] = ends[k + 1];
        else if (c === RPAREN) ends[k] = k;
        else if (c === LPAREN) {
          // Balanced: continue after the `)` matching this one.
          const match = ends[k + 1];
          ends[k] = match >= 0 ? ends[match + 1] : UNBALANCED;
        } else ends[k] = ends[k + 1];
      }
      this.destinationEnds = ends;
    }
    return this.destinationEnds[q];
  }

  /// `<scheme:…>` and `<user@host>`. Anything else, raw HTML included, stays text.
  private autolink(): void {
    const s = this.src;
    let k = this.pos + 1;
    while (k < s.length) {
      const c = s.charCodeAt(k);
      if (c === GT || c === LT || c <= SPACE) break;
      k++;
    }
    if (s.charCodeAt(k) !== GT) {
      this.pos++;
      return;
    }
    const inner = s.slice(this.pos + 1, k);
    let href: string | undefined;
    if (URI_AUTOLINK.test(inner)) href = safeHref(inner);
    else if (EMAIL_AUTOLINK.test(inner)) href = safeHref(`mailto:${inner}`);
    if (!href) {
      this.pos++;
      return;
    }
    const node = new Inline("a");
    node.href = href;
    node.append(new Inline(null, inner));
    this.emit(node, k + 1);
  }

  /// Matches `*`/`_`/`~~` closers with openers above `bottom`, wraps what lies
  /// between into em/strong/del, and drops the delimiters above `bottom`.
  private processEmphasis(bottom: Delimiter | null): void {
    const bottomId = bottom ? bottom.id : -1;
    // For each kind of closer, the id at or below which no opener can match it: once a
    // search failed it never needs to look that far down again.
    const openersBottom = new Map<number, number>();
    let closer = bottom ? bottom.next : this.delimiterBottom;
    while (closer) {
      if (!closer.canClose) {
        closer = closer.next;
        continue;
      }
      const key = closer.char * 8 + (closer.canOpen ? 4 : 0) + (closer.length % 3);
      const floor = Math.max(bottomId, openersBottom.get(key) ?? -1);
      let opener = closer.prev;
      while (opener && opener.id > floor) {
        if (opener.char === closer.char && opener.canOpen && !oddMatch(opener, closer)) break;
        opener = opener.prev;
      }
      if (!opener || opener.id <= floor) {
        openersBottom.set(key, closer.prev ? closer.prev.id : -1);
        const next = closer.next;
        if (!closer.canOpen) this.removeDelimiter(closer);
        closer = next;
        continue;
      }
      const use = closer.char === TILDE ? 2 : closer.count >= 2 && opener.count >= 2 ? 2 : 1;
      opener.count -= use;
      closer.count -= use;
      const tag = closer.char === TILDE ? "del" : use === 2 ? "strong" : "em";
      const node = new Inline(tag, String.fromCharCode(closer.char).repeat(use));
      // The nodes between the two runs move under the new element...
      const a = opener.node;
      const b = closer.node;
      if (a.next !== b) {
        node.first = a.next;
        node.last = b.prev;
        node.first!.prev = null;
        node.last!.next = null;
      }
      a.next = node;
      node.prev = a;
      node.next = b;
      b.prev = node;
      // ...and their delimiters can no longer match anything.
      opener.next = closer;
      closer.prev = opener;
      if (opener.count === 0) {
        this.root.remove(opener.node);
        this.removeDelimiter(opener);
      }
      if (closer.count === 0) {
        const next = closer.next;
        this.root.remove(closer.node);
        this.removeDelimiter(closer);
        closer = next;
      }
    }
    while (this.delimiterTop && this.delimiterTop.id > bottomId) this.removeDelimiter(this.delimiterTop);
  }
}

function plainLinkTail(content: Inline | null, url: string): string {
  if (url === "") return "";
  if (content === null) return url;
  if (content.next === null && content.tag === null && content.literal() === url) return "";
  return ` (${url})`;
}

/// CommonMark's "rule of 3": `*foo**bar*` is not `<em>foo</em><em>bar</em>`.
function oddMatch(opener: Delimiter, closer: Delimiter): boolean {
  if (closer.char === TILDE) return false;
  return (
    (opener.canClose || closer.canOpen) &&
    closer.length % 3 !== 0 &&
    (opener.length + closer.length) % 3 === 0
  );
}

const URI_AUTOLINK = /^[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*$/;
const EMAIL_AUTOLINK =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/// Text in which the inline parser would find nothing to do.
const INLINE_SYNTAX = /[\n\\`*_~[\]!<&]|https?:\/\//i;

function parseInline(source: string): MdNode[] {
  if (!INLINE_SYNTAX.test(source)) return source ? [text(source)] : [];
  const verbatim: Verbatim = new Set();
  return linkify(toNodes(new InlineParser(source).run(), verbatim), verbatim);
}

/// Text nodes that bare URLs are not looked for in: the URL shown after an image or
/// after a link that is not followed, which must stay plain text.
type Verbatim = Set<MdText>;

/// Appends text, merged into the last node when that is text (and not verbatim).
function pushText(out: MdNode[], value: string, verbatim?: Verbatim): void {
  if (!value) return;
  const last = out[out.length - 1];
  if (last && last.kind === "text" && !verbatim?.has(last)) last.text += value;
  else out.push(text(value));
}

/// The working list as a tree, without recursion: emphasis deeper than the cap is
/// flattened back to its delimiters, and a link inside a link keeps only its text.
function toNodes(root: Inline, verbatim: Verbatim): MdNode[] {
  interface Frame {
    node: Inline | null;
    out: MdNode[];
    depth: number;
    inLink: boolean;
    /// Text to add once the frame's nodes are done (the closing delimiter of a
    /// flattened element, the URL of a group).
    tail: string;
    tailVerbatim: boolean;
  }
  const out: MdNode[] = [];
  const stack: Frame[] = [{ node: root.first, out, depth: 0, inLink: false, tail: "", tailVerbatim: false }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const node = frame.node;
    if (!node) {
      stack.pop();
      if (frame.tailVerbatim && frame.tail) {
        const tail = text(frame.tail);
        frame.out.push(tail);
        verbatim.add(tail);
      } else {
        pushText(frame.out, frame.tail, verbatim);
      }
      continue;
    }
    frame.node = node.next;
    if (node.tag === null) {
      pushText(frame.out, node.literal(), verbatim);
      continue;
    }
    // The node's content goes into the current parent, then `tail`.
    const flat = (tail: string, tailVerbatim = false): void => {
      stack.push({ node: node.first, out: frame.out, depth: frame.depth, inLink: frame.inLink, tail, tailVerbatim });
    };
    switch (node.tag) {
      case "br":
        frame.out.push(element("br", []));
        break;
      case "code":
        frame.out.push(element("code", node.text ? [text(node.text)] : []));
        break;
      case "group":
        flat(node.text, true);
        break;
      case "a":
        if (frame.inLink || frame.depth >= MAX_INLINE_DEPTH) {
          flat("");
        } else {
          const link = element("a", [], { href: node.href });
          frame.out.push(link);
          stack.push({
            node: node.first,
            out: link.children,
            depth: frame.depth + 1,
            inLink: true,
            tail: "",
            tailVerbatim: false,
          });
        }
        break;
      default:
        if (frame.depth >= MAX_INLINE_DEPTH) {
          pushText(frame.out, node.text, verbatim);
          flat(node.text);
        } else {
          const child = element(node.tag, []);
          frame.out.push(child);
          stack.push({
            node: node.first,
            out: child.children,
            depth: frame.depth + 1,
            inLink: frame.inLink,
            tail: "",
            tailVerbatim: false,
          });
        }
    }
  }
  return out;
}

/// GFM's bare URLs: `http://` or `https://` at the start of a word in text that is not
/// already a link or code. Done on the finished tree, so `[see https://x](https://y)`
/// stays one link.
function linkify(nodes: MdNode[], verbatim: Verbatim): MdNode[] {
  const out: MdNode[] = [];
  for (const node of nodes) {
    if (node.kind === "text") {
      if (verbatim.has(node)) pushText(out, node.text);
      else splitUrls(node.text, out);
    } else {
      if (node.tag !== "a" && node.tag !== "code") node.children = linkify(node.children, verbatim);
      out.push(node);
    }
  }
  return out;
}

const TRAILING_PUNCTUATION = new Set([63, BANG, DOT, 44, COLON, STAR, UNDERSCORE, TILDE, APOS, QUOTE]);

function splitUrls(s: string, out: MdNode[]): void {
  const scheme = /https?:\/\//gi;
  let last = 0;
  for (let m = scheme.exec(s); m !== null; m = scheme.exec(s)) {
    const start = m.index;
    const before = start > 0 ? s.charCodeAt(start - 1) : SPACE;
    if (!isWhitespace(before) && before !== STAR && before !== UNDERSCORE && before !== TILDE && before !== LPAREN) {
      continue;
    }
    let wordEnd = start;
    let opens = 0;
    let closes = 0;
    for (; wordEnd < s.length; wordEnd++) {
      const c = s.charCodeAt(wordEnd);
      if (c === LT || isWhitespace(c)) break;
      if (c === LPAREN) opens++;
      else if (c === RPAREN) closes++;
    }
    // Trailing punctuation ends the sentence, not the URL; so does an unbalanced ")"
    // and something that looks like an entity ("&amp;").
    let end = wordEnd;
    while (end > start) {
      const c = s.charCodeAt(end - 1);
      if (TRAILING_PUNCTUATION.has(c)) end--;
      else if (c === RPAREN && closes > opens) {
        closes--;
        end--;
      } else if (c === SEMICOLON) {
        let k = end - 2;
        while (k > start && isAlphanumeric(s.charCodeAt(k))) k--;
        if (k < end - 2 && s.charCodeAt(k) === AMP) end = k;
        else break;
      } else break;
    }
    const href = end > start + m[0].length ? safeHref(s.slice(start, end)) : undefined;
    if (!href) {
      // Give up on the whole word, so a long word is scanned once.
      scheme.lastIndex = Math.max(wordEnd, start + 1);
      continue;
    }
    pushText(out, s.slice(last, start));
    out.push(element("a", [text(s.slice(start, end))], { href }));
    last = end;
    scheme.lastIndex = end;
  }
  pushText(out, s.slice(last));
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
