// @vitest-environment happy-dom
import MarkdownIt from "markdown-it";
import { render } from "preact";
import { afterEach, describe, expect, it } from "vitest";
import {
  Markdown,
  markdownToText,
  parseMarkdown,
  safeHref,
  tokensToTree,
  type MdElement,
  type MdNode,
} from "./markdown";

// -- helpers --------------------------------------------------------------------

const t = (text: string): MdNode => ({ kind: "text", text });

function el(tag: MdElement["tag"], children: MdNode[], extra: Partial<MdElement> = {}): MdElement {
  return { kind: "element", tag, children, ...extra };
}

/// The single block of a one-block document.
function only(source: string): MdElement {
  const nodes = parseMarkdown(source);
  expect(nodes).toHaveLength(1);
  return nodes[0] as MdElement;
}

/// The inline content of a one-paragraph document.
function inline(source: string): MdNode[] {
  const p = only(source);
  expect(p.tag).toBe("p");
  return p.children;
}

function renderInto(source: string): HTMLElement {
  const container = document.createElement("div");
  document.body.append(container);
  render(<Markdown source={source} />, container);
  return container;
}

afterEach(() => {
  document.body.innerHTML = "";
});

const ALLOWED_ELEMENTS = new Set([
  "div", // the component's own wrapper
  "p", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "a", "ul", "ol", "li",
  "blockquote", "hr", "br", "del", "table", "thead", "tbody", "tr", "th", "td",
]);
const ALLOWED_ATTRIBUTES = new Set(["class", "href", "data-href", "target", "rel", "data-language", "start"]);

/// Elements nested in each other, at the deepest point of the tree.
function depthOf(nodes: MdNode[]): number {
  let deepest = 0;
  const stack = nodes.map((node) => ({ node, depth: 1 }));
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (node.kind === "text") continue;
    deepest = Math.max(deepest, depth);
    for (const child of node.children) stack.push({ node: child, depth: depth + 1 });
  }
  return deepest;
}

/// What must hold for any rendered content, whatever the source.
function expectSafe(container: HTMLElement): void {
  const forbidden = "script, img, iframe, frame, svg, math, style, link, meta, object, embed, form, input, base";
  expect(container.querySelector(forbidden)).toBeNull();
  expect(container.querySelector("a a"), "a link in a link").toBeNull();
  for (const node of Array.from(container.querySelectorAll("*"))) {
    expect(ALLOWED_ELEMENTS.has(node.tagName.toLowerCase()), node.tagName).toBe(true);
    for (const attr of Array.from(node.attributes)) {
      expect(attr.name.toLowerCase().startsWith("on"), attr.name).toBe(false);
      expect(ALLOWED_ATTRIBUTES.has(attr.name.toLowerCase()), attr.name).toBe(true);
      if (attr.name === "href" || attr.name === "data-href") {
        expect(attr.value, attr.value).toMatch(/^(https?|mailto):/);
      }
    }
  }
}

// -- structure ------------------------------------------------------------------

describe("blocks", () => {
  it("splits paragraphs at blank lines and keeps soft breaks as newlines", () => {
    expect(parseMarkdown("one\ntwo\n\n  three  ")).toEqual([el("p", [t("one\ntwo")]), el("p", [t("three")])]);
    expect(parseMarkdown("")).toEqual([]);
    expect(parseMarkdown("\n \n\t\n")).toEqual([]);
  });

  it("maps ATX headings two levels down and strips closing hashes", () => {
    expect(parseMarkdown("# One #\n## Two\n### Three\n#### Four\n###### Six")).toEqual([
      el("h3", [t("One")]),
      el("h4", [t("Two")]),
      el("h5", [t("Three")]),
      el("h6", [t("Four")]),
      el("h6", [t("Six")]),
    ]);
    expect(only("#hashtag").tag).toBe("p");
    expect(only("####### seven").tag).toBe("p");
    expect(only("\\# escaped")).toEqual(el("p", [t("# escaped")]));
  });

  it("reads setext headings", () => {
    expect(parseMarkdown("Title\n=====\nSub\n---")).toEqual([el("h3", [t("Title")]), el("h4", [t("Sub")])]);
  });

  it("reads fenced code with its language, and does not parse inside", () => {
    expect(only("```ts\nconst a = *b*;\n<b>x</b>\n```")).toEqual(
      el("pre", [el("code", [t("const a = *b*;\n<b>x</b>")], { language: "ts" })]),
    );
    expect(only("~~~python extra words\nprint()\n~~~~")).toEqual(
      el("pre", [el("code", [t("print()")], { language: "python" })]),
    );
    // A shorter fence does not close a longer one.
    expect(only("````\n```\n````")).toEqual(el("pre", [el("code", [t("```")])]));
    // Indentation of the opening fence is removed from the content.
    expect(only("  ```\n  x\n    y\n  ```")).toEqual(el("pre", [el("code", [t("x\n  y")])]));
    // A language that is not a plain word is dropped.
    expect(only('```"><script>\nx\n```')).toEqual(el("pre", [el("code", [t("x")])]));
  });

  it("runs an unclosed fence to the end", () => {
    expect(parseMarkdown("text\n```sh\nls\n\n# not a heading")).toEqual([
      el("p", [t("text")]),
      el("pre", [el("code", [t("ls\n\n# not a heading")], { language: "sh" })]),
    ]);
  });

  it("reads indented code", () => {
    expect(only("    let x;\n\n    let y;\n")).toEqual(el("pre", [el("code", [t("let x;\n\nlet y;")])]));
    // but indentation cannot interrupt a paragraph
    expect(only("para\n    more")).toEqual(el("p", [t("para\nmore")]));
  });

  it("reads thematic breaks", () => {
    expect(parseMarkdown("a\n\n***\n- - -\n___\n\nb")).toEqual([
      el("p", [t("a")]),
      el("hr", []),
      el("hr", []),
      el("hr", []),
      el("p", [t("b")]),
    ]);
  });

  it("reads tight and loose lists, nested by indentation", () => {
    expect(only("- a\n- b\n  - c\n    1. d\n- e")).toEqual(
      el("ul", [
        el("li", [t("a")]),
        el("li", [t("b"), el("ul", [el("li", [t("c"), el("ol", [el("li", [t("d")])])])])]),
        el("li", [t("e")]),
      ]),
    );
    expect(only("1. a\n\n2. b")).toEqual(
      el("ol", [el("li", [el("p", [t("a")])]), el("li", [el("p", [t("b")])])]),
    );
  });

  it("keeps the start of an ordered list and splits lists by marker", () => {
    expect(parseMarkdown("3) c\n4) d\n* x\n+ y")).toEqual([
      el("ol", [el("li", [t("c")]), el("li", [t("d")])], { start: 3 }),
      el("ul", [el("li", [t("x")])]),
      el("ul", [el("li", [t("y")])]),
    ]);
  });

  it("continues list items lazily and with indented blocks", () => {
    expect(only("- a\ncontinued\n- b\n\n  second paragraph\n\n  ```\n  code\n  ```")).toEqual(
      el("ul", [
        el("li", [el("p", [t("a\ncontinued")])]),
        el("li", [el("p", [t("b")]), el("p", [t("second paragraph")]), el("pre", [el("code", [t("code")])])]),
      ]),
    );
  });

  it("only lets a bullet or 1. interrupt a paragraph", () => {
    expect(parseMarkdown("In 2024\n2. not a list")).toEqual([el("p", [t("In 2024\n2. not a list")])]);
    expect(parseMarkdown("Steps:\n1. one")).toEqual([el("p", [t("Steps:")]), el("ol", [el("li", [t("one")])])]);
  });

  it("reads blockquotes, nested and lazy", () => {
    expect(only("> quote\nlazy\n> > inner\n>\n> - item")).toEqual(
      el("blockquote", [
        el("p", [t("quote\nlazy")]),
        el("blockquote", [el("p", [t("inner")])]),
        el("ul", [el("li", [t("item")])]),
      ]),
    );
    // A blank line ends the quote.
    expect(parseMarkdown("> a\n\nb")).toEqual([el("blockquote", [el("p", [t("a")])]), el("p", [t("b")])]);
  });

  it("reads GitHub tables, padding and cutting rows to the header", () => {
    expect(only("| a | *b* |\n|:--|--:|\n| 1 | `x\\|y` |\n| 2 |\n| 3 | 4 | 5 |")).toEqual(
      el("table", [
        el("thead", [el("tr", [el("th", [t("a")]), el("th", [el("em", [t("b")])])])]),
        el("tbody", [
          el("tr", [el("td", [t("1")]), el("td", [el("code", [t("x|y")])])]),
          el("tr", [el("td", [t("2")]), el("td", [])]),
          el("tr", [el("td", [t("3")]), el("td", [t("4")])]),
        ]),
      ]),
    );
    expect(parseMarkdown("intro\na | b\n--|--\n1 | 2\n\nafter")).toEqual([
      el("p", [t("intro")]),
      el("table", [
        el("thead", [el("tr", [el("th", [t("a")]), el("th", [t("b")])])]),
        el("tbody", [el("tr", [el("td", [t("1")]), el("td", [t("2")])])]),
      ]),
      el("p", [t("after")]),
    ]);
    // Different cell counts: not a table.
    expect(only("| a | b |\n|---|\n").tag).toBe("p");
  });

  it("accepts CRLF and CR line endings", () => {
    expect(parseMarkdown("# A\r\n\r\nb\rc")).toEqual([el("h3", [t("A")]), el("p", [t("b\nc")])]);
  });
});

describe("inlines", () => {
  it("reads code spans of any backtick length", () => {
    expect(inline("a `b` c")).toEqual([t("a "), el("code", [t("b")]), t(" c")]);
    expect(inline("``a ` b``")).toEqual([el("code", [t("a ` b")])]);
    expect(inline("` `` `")).toEqual([el("code", [t("``")])]);
    expect(inline("`*not em* <b>`")).toEqual([el("code", [t("*not em* <b>")])]);
    expect(inline("``unclosed`")).toEqual([t("``unclosed`")]);
  });

  it("reads strong, emphasis and strikethrough", () => {
    expect(inline("**b** __b__ *i* _i_ ~~s~~")).toEqual([
      el("strong", [t("b")]),
      t(" "),
      el("strong", [t("b")]),
      t(" "),
      el("em", [t("i")]),
      t(" "),
      el("em", [t("i")]),
      t(" "),
      el("del", [t("s")]),
    ]);
    expect(inline("***both***")).toEqual([el("em", [el("strong", [t("both")])])]);
    expect(inline("*a **b** c*")).toEqual([el("em", [t("a "), el("strong", [t("b")]), t(" c")])]);
  });

  it("does not italicize snake_case_words or stray markers", () => {
    expect(inline("call snake_case_name and __init__ or 2 * 3 * 4")).toEqual([
      t("call snake_case_name and "),
      el("strong", [t("init")]),
      t(" or 2 * 3 * 4"),
    ]);
    expect(inline("~5 min, ~~~ and a_b_c")).toEqual([t("~5 min, ~~~ and a_b_c")]);
  });

  it("reads links, with titles and balanced parentheses", () => {
    expect(inline("[the *docs*](https://example.com/a_(b) \"Title\")")).toEqual([
      el("a", [t("the "), el("em", [t("docs")])], { href: "https://example.com/a_(b)" }),
    ]);
    expect(inline("[x](<https://example.com/a b>)")).toEqual([el("a", [t("x")], { href: "https://example.com/a%20b" })]);
    expect(inline("[mail](MAILTO:me@example.com)")).toEqual([el("a", [t("mail")], { href: "mailto:me@example.com" })]);
  });

  it("shows links it will not follow as their text and URL", () => {
    expect(inline("see [main.rs](src/main.rs) and [src/lib.rs](src/lib.rs)")).toEqual([
      t("see main.rs (src/main.rs) and src/lib.rs"),
    ]);
    expect(inline("[x](javascript:alert(1))")).toEqual([t("x (javascript:alert(1))")]);
    expect(inline("[x]()")).toEqual([t("x")]);
  });

  it("turns images into their alt text and URL, never an image", () => {
    expect(inline("![a *cat*](https://example.com/cat.png)")).toEqual([
      t("a "),
      el("em", [t("cat")]),
      t(" (https://example.com/cat.png)"),
    ]);
    expect(inline("![](http://example.com/x.png)")).toEqual([t("http://example.com/x.png")]);
  });

  it("does not nest links", () => {
    expect(inline("[see https://a.example](https://b.example)")).toEqual([
      el("a", [t("see https://a.example")], { href: "https://b.example/" }),
    ]);
    // The outer brackets stay text (and the bare URL in them is linked on its own).
    expect(inline("[a [b](https://b.example)](https://a.example)")).toEqual([
      t("[a "),
      el("a", [t("b")], { href: "https://b.example/" }),
      t("]("),
      el("a", [t("https://a.example")], { href: "https://a.example/" }),
      t(")"),
    ]);
  });

  it("does not nest a link in a link through an image's description", () => {
    expect(inline("[![[in](https://a.example)](https://b.example/x.png)](https://c.example)")).toEqual([
      el("a", [t("in (https://b.example/x.png)")], { href: "https://c.example/" }),
    ]);
  });

  it("reads reference links, judged like inline ones", () => {
    expect(parseMarkdown("[docs][1] and [x][2]\n\n[1]: https://example.com/docs\n[2]: javascript:alert(1)")).toEqual([
      el("p", [el("a", [t("docs")], { href: "https://example.com/docs" }), t(" and x (javascript:alert(1))")]),
    ]);
  });

  it("reads autolinks and email autolinks", () => {
    expect(inline("<https://example.com/x?y=1>")).toEqual([
      el("a", [t("https://example.com/x?y=1")], { href: "https://example.com/x?y=1" }),
    ]);
    expect(inline("<me@example.com>")).toEqual([el("a", [t("me@example.com")], { href: "mailto:me@example.com" })]);
    // One it will not follow reads as written.
    expect(inline("<ftp://example.com/x>")).toEqual([t("<ftp://example.com/x>")]);
  });

  it("links bare URLs, leaving out trailing punctuation", () => {
    expect(inline("Open https://example.com/a_b. Or (http://localhost:3000/x)!")).toEqual([
      t("Open "),
      el("a", [t("https://example.com/a_b")], { href: "https://example.com/a_b" }),
      t(". Or ("),
      el("a", [t("http://localhost:3000/x")], { href: "http://localhost:3000/x" }),
      t(")!"),
    ]);
    expect(inline("https://en.wikipedia.org/wiki/Foo_(bar)")).toEqual([
      el("a", [t("https://en.wikipedia.org/wiki/Foo_(bar)")], { href: "https://en.wikipedia.org/wiki/Foo_(bar)" }),
    ]);
    // Not in the middle of a word, not in code, not without a host.
    expect(inline("xhttps://example.com `https://example.com` https://")).toEqual([
      t("xhttps://example.com "),
      el("code", [t("https://example.com")]),
      t(" https://"),
    ]);
  });

  it("links only http and https bare URLs, leaving closing delimiters out", () => {
    expect(inline("~~https://example.com/old~~ and _https://example.com/x_")).toEqual([
      el("del", [el("a", [t("https://example.com/old")], { href: "https://example.com/old" })]),
      t(" and "),
      el("em", [el("a", [t("https://example.com/x")], { href: "https://example.com/x" })]),
    ]);
    const unlinked = "www.example.com, me@example.com, ftp://example.com and mailto:me@example.com";
    expect(inline(unlinked)).toEqual([t(unlinked)]);
  });

  it("reads hard line breaks", () => {
    expect(inline("one  \ntwo\\\nthree \nfour")).toEqual([
      t("one"),
      el("br", []),
      t("two"),
      el("br", []),
      t("three\nfour"),
    ]);
  });

  it("reads backslash escapes and entities", () => {
    expect(inline("\\*not em\\* \\[x\\](y) \\a")).toEqual([t("*not em* [x](y) \\a")]);
    expect(inline("&lt;b&gt; &amp; &#65;&#x42; &copy; &bogus; &constructor;")).toEqual([
      t("<b> & AB © &bogus; &constructor;"),
    ]);
  });

  it("shows raw HTML as text", () => {
    expect(inline("<b>bold</b> <!-- c --> <br>")).toEqual([t("<b>bold</b> <!-- c --> <br>")]);
  });
});

describe("tokensToTree", () => {
  const { Token } = MarkdownIt;

  it("shows tokens it does not map as their text, never as HTML", () => {
    // A parser that does read raw HTML: its html_block and html_inline tokens.
    const html = new MarkdownIt({ html: true });
    const tokens = html.parse("<div onclick=alert(1)>\n<b>x</b>\n</div>\n\na <img src=x onerror=alert(1)> b", {});
    expect(tokens.map((token) => token.type)).toContain("html_block");
    expect(tokensToTree(tokens)).toEqual([
      el("p", [t("<div onclick=alert(1)>\n<b>x</b>\n</div>")]),
      el("p", [t("a <img src=x onerror=alert(1)> b")]),
    ]);
  });

  it("keeps the content of tokens it does not know, without their element", () => {
    const tokens = new MarkdownIt().parse("a *b* c", {});
    for (const token of tokens[1].children!) {
      if (token.type === "em_open") token.type = "mark_open";
      if (token.type === "em_close") token.type = "mark_close";
    }
    const math = new Token("math_block", "math", 0);
    math.block = true;
    math.content = "x^2\n";
    const emoji = new Token("emoji", "", 0);
    emoji.content = ":)";
    tokens[1].children!.push(emoji);
    expect(tokensToTree([...tokens, math])).toEqual([el("p", [t("a b c:)")]), el("p", [t("x^2")])]);
  });

  it("closes what a token stream leaves open and ignores stray closes", () => {
    const tokens = new MarkdownIt().parse("> a **b**", {});
    const open = tokens.filter((token) => token.nesting !== -1);
    const inline = open.find((token) => token.type === "inline")!;
    inline.children = inline.children!.filter((token) => token.type !== "strong_close");
    const strayClose = new Token("blockquote_close", "blockquote", -1);
    expect(tokensToTree([strayClose, ...open, strayClose])).toEqual([
      el("blockquote", [el("p", [t("a "), el("strong", [t("b")])])]),
    ]);
  });
});

describe("safeHref", () => {
  it("accepts http, https and mailto only", () => {
    expect(safeHref("https://example.com")).toBe("https://example.com/");
    expect(safeHref("  HTTP://Example.com/a b ")).toBe("http://example.com/a%20b");
    expect(safeHref("mailto:a@b.example")).toBe("mailto:a@b.example");
    for (const url of [
      "javascript:alert(1)",
      "JAVASCRIPT:alert(1)",
      " javascript:alert(1)",
      "java\nscript:alert(1)",
      "java\tscript:alert(1)",
      "\u0000javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:x",
      "file:///etc/passwd",
      "tauri://localhost/",
      "ipc://localhost/cmd",
      "//example.com",
      "/relative",
      "relative.html",
      "#anchor",
      "http://ipc.localhost/plugin:x",
      "https://tauri.localhost./",
      "https://",
      "",
    ]) {
      expect(safeHref(url), JSON.stringify(url)).toBeUndefined();
    }
  });
});

// -- text -----------------------------------------------------------------------

describe("markdownToText", () => {
  it("returns plain text unchanged", () => {
    const plain = "Hello world, this is plain.\nSecond line of the paragraph\n\nA new paragraph (with parens) and 3 + 4 = 7";
    expect(markdownToText(parseMarkdown(plain))).toBe(plain);
  });

  it("keeps the text and drops the markup", () => {
    const source = [
      "# Title",
      "",
      "Some **bold** and `code` with [a link](https://example.com).",
      "",
      "- one",
      "- two",
      "  - nested",
      "",
      "> quoted",
      "",
      "| a | b |",
      "|---|---|",
      "| 1 |   |",
      "",
      "```",
      "code block",
      "```",
      "",
      "---",
      "",
      "line  ",
      "break",
    ].join("\n");
    expect(markdownToText(parseMarkdown(source))).toBe(
      "Title\n\nSome bold and code with a link.\n\none\ntwo\nnested\n\nquoted\n\na\tb\n1\t\n\ncode block\n\nline\nbreak",
    );
  });
});

// -- rendering ------------------------------------------------------------------

describe("Markdown", () => {
  it("renders the tree with the allowed tags", () => {
    const container = renderInto(
      "# T\n\n**b** *i* ~~s~~ `c`\n\n- x\n\n3. y\n\n> q\n\n```js\nlet a;\n```\n\n| h |\n|---|\n| d |\n\n---\n\na  \nb",
    );
    const root = container.firstElementChild!;
    expect(root.tagName).toBe("DIV");
    expect(root.className).toBe("markdown");
    for (const selector of ["h3", "p strong", "p em", "p del", "p code", "ul li", "ol[start='3'] li", "blockquote p", "table thead th", "table tbody td", "hr", "p br"]) {
      expect(container.querySelector(selector), selector).not.toBeNull();
    }
    const code = container.querySelector("pre > code")!;
    expect(code.getAttribute("data-language")).toBe("js");
    expect(code.textContent).toBe("let a;");
    expectSafe(container);
  });

  it("renders links with target, rel and data-href", () => {
    const container = renderInto("[docs](https://example.com/docs) and https://example.org");
    const links = Array.from(container.querySelectorAll("a"));
    expect(links).toHaveLength(2);
    expect(links[0].getAttribute("href")).toBe("https://example.com/docs");
    expect(links[0].getAttribute("data-href")).toBe("https://example.com/docs");
    expect(links[0].getAttribute("target")).toBe("_blank");
    expect(links[0].getAttribute("rel")).toBe("noreferrer noopener");
    expect(links[0].textContent).toBe("docs");
    expect(links[1].getAttribute("href")).toBe("https://example.org/");
  });

  it("re-renders when the source changes", () => {
    const container = document.createElement("div");
    render(<Markdown source="**one**" />, container);
    expect(container.querySelector("strong")!.textContent).toBe("one");
    render(<Markdown source="*two*" />, container);
    expect(container.querySelector("strong")).toBeNull();
    expect(container.querySelector("em")!.textContent).toBe("two");
  });

  it("renders a link it will not follow as plain text", () => {
    const container = renderInto("[x](javascript:alert(1))");
    expect(container.querySelector("a")).toBeNull();
    expect(container.textContent).toBe("x (javascript:alert(1))");
  });
});

// -- untrusted content ------------------------------------------------------------

describe("XSS corpus", () => {
  const corpus: [source: string, visible: string][] = [
    ["<script>alert(1)</script>", "<script>alert(1)</script>"],
    ["<SCRIPT SRC=//evil.example/x.js></SCRIPT>", "<SCRIPT SRC=//evil.example/x.js></SCRIPT>"],
    ["<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"],
    ['<svg onload="alert(1)"><circle/></svg>', '<svg onload="alert(1)"><circle/></svg>'],
    ['<iframe src="https://evil.example"></iframe>', '<iframe src="https://evil.example"></iframe>'],
    ["<style>body{display:none}</style>", "<style>body{display:none}</style>"],
    ['<p style="position:fixed">x</p>', '<p style="position:fixed">x</p>'],
    ["<!-- <script>alert(1)</script> -->", "<!-- <script>alert(1)</script> -->"],
    ['<a href="javascript:alert(1)">x</a>', '<a href="javascript:alert(1)">x</a>'],
    ["<details open ontoggle=alert(1)>", "<details open ontoggle=alert(1)>"],
    ["<math><mtext><img src=x onerror=alert(1)></mtext></math>", "<math><mtext>"],
    ["[x](javascript:alert(1))", "x (javascript:alert(1))"],
    ["[x](JaVaScRiPt:alert(1))", "x (JaVaScRiPt:alert(1))"],
    ["[x](  javascript:alert(1)  )", "x (javascript:alert(1))"],
    ["[x](<java\tscript:alert(1)>)", "x (java\tscript:alert(1))"],
    ["[x](java\nscript:alert(1))", "script:alert(1))"],
    ["[x](jav&#x61;script:alert(1))", "x (javascript:alert(1))"],
    ["[x](&#106;avascript:alert(1))", "x (javascript:alert(1))"],
    // Entities in a destination are decoded, `&colon;` like any other HTML5 name.
    ["[x](javascript&colon;alert(1))", "x (javascript:alert(1))"],
    ["[x](java&#10;script:alert(1))", "script:alert(1))"],
    ["[x](\\javascript:alert(1))", "x (\\javascript:alert(1))"],
    ["[x](javascript://example.com/%0Aalert(1))", "x (javascript://example.com/%0Aalert(1))"],
    ["[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "x (data:text/html"],
    ["[x](DATA:text/html,<script>alert(1)</script>)", "x (DATA:text/html,<script>alert(1)</script>)"],
    ["[x](vbscript:msgbox(1))", "x (vbscript:msgbox(1))"],
    ["[x](file:///etc/passwd)", "x (file:///etc/passwd)"],
    ["[x](http://ipc.localhost/plugin%3Ashell%7Copen)", "x (http://ipc.localhost/plugin%3Ashell%7Copen)"],
    ["[x](ipc://localhost/cmd)", "x (ipc://localhost/cmd)"],
    ["[x](tauri://localhost/index.html)", "x (tauri://localhost/index.html)"],
    ["<javascript:alert(1)>", "<javascript:alert(1)>"],
    ["<data:text/html,hi>", "<data:text/html,hi>"],
    ["![x](javascript:alert(1))", "x (javascript:alert(1))"],
    ["![x](https://evil.example/track.png)", "x (https://evil.example/track.png)"],
    ['![x](https://evil.example/a.png "onerror=alert(1)")', "x (https://evil.example/a.png)"],
    ['[x](https://example.com "onmouseover=alert(1)")', "x"],
    ["```html\n<script>alert(1)</script>\n```", "<script>alert(1)</script>"],
    ["`<img src=x onerror=alert(1)>`", "<img src=x onerror=alert(1)>"],
    ['```"><img src=x onerror=alert(1)>\ncode\n```', "code"],
    ["| <img src=x onerror=alert(1)> |\n|---|\n| <script>x</script> |", "<script>x</script>"],
    ["> <iframe srcdoc='<script>alert(1)</script>'>", "<iframe srcdoc='<script>alert(1)</script>'>"],
    ["&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"],
    ["**<img src=x onerror=alert(1)>**", "<img src=x onerror=alert(1)>"],
    ["https://example.com/\"><script>alert(1)</script>", "<script>alert(1)</script>"],
    ["[x][1]\n\n[1]: javascript:alert(1)", "x (javascript:alert(1))"],
    ["![x][1]\n\n[1]: https://evil.example/track.png", "x (https://evil.example/track.png)"],
    ["[![x](https://evil.example/t.png)](javascript:alert(1))", "x (https://evil.example/t.png) (javascript:alert(1))"],
    ["[![[in](https://a.example)](https://b.example/t.png)](https://c.example)", "in (https://b.example/t.png)"],
    ["<ftp://evil.example/x>", "<ftp://evil.example/x>"],
  ];

  it.each(corpus)("renders %j inertly", (source, visible) => {
    const container = renderInto(source);
    expectSafe(container);
    expect(container.textContent).toContain(visible);
  });

  it("never lets a link href through unless it is http, https or mailto", () => {
    const container = renderInto(corpus.map(([source]) => source).join("\n\n"));
    expectSafe(container);
    for (const a of Array.from(container.querySelectorAll("a"))) {
      expect(a.getAttribute("href")).toMatch(/^(https?|mailto):/);
    }
  });

  it("stays inert on random markdown-ish input", () => {
    // A small deterministic generator (mulberry32), so failures reproduce.
    let seed = 0x5eed;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const pieces = [
      "*", "_", "~~", "`", "```", "[", "]", "(", ")", "![", "<", ">", "&", "&#", "#", "\\", "|", "-", "1.", " ", "  ",
      "\n", "\n\n", "    ", "a", "word", "http://", "https://x.example", "javascript:", "data:", "<script>", "onerror=",
      "&#x61;", "mailto:", "|---|", "> ", "- ", "\t", "\u0000", "\u00a0", "é", "😀",
    ];
    for (let round = 0; round < 300; round++) {
      let source = "";
      const length = Math.floor(random() * 60);
      for (let i = 0; i < length; i++) source += pieces[Math.floor(random() * pieces.length)];
      const nodes = parseMarkdown(source);
      expect(typeof markdownToText(nodes)).toBe("string");
      const container = renderInto(source);
      expectSafe(container);
      container.remove();
    }
  });
});

// -- pathological input -----------------------------------------------------------

describe("pathological input", () => {
  const N = 100_000;
  const roundTrip = (source: string): string => markdownToText(parseMarkdown(source));

  /// Like toBe, with a short message instead of a megabyte diff.
  function expectSame(actual: string, expected: string, label = expected.slice(0, 16)): void {
    let i = 0;
    while (i < actual.length && actual[i] === expected[i]) i++;
    const where = `${JSON.stringify(label)}: first difference at ${i} of ${actual.length}/${expected.length}`;
    expect(actual === expected, where).toBe(true);
  }

  it("keeps long runs of markers as text", () => {
    for (const source of [
      `x${"*".repeat(N)}`,
      `x${"_".repeat(N)}`,
      "[".repeat(N),
      "]".repeat(N),
      `x${"`".repeat(N)}`,
      "<".repeat(N),
      "<a".repeat(N / 2),
      "&#".repeat(N / 2),
      `x${"~".repeat(N)}`,
      "![".repeat(N / 2),
      "[](".repeat(N / 3),
      "[a](b".repeat(N / 5),
      "[a](<".repeat(N / 5),
      '[a](b "'.repeat(N / 7),
      `[a](${"(".repeat(N)}`,
      "http://(".repeat(N / 8),
      "_a".repeat(N / 2),
    ]) {
      expectSame(roundTrip(source), source);
    }
  });

  it("parses runs that are block syntax without throwing", () => {
    expect(parseMarkdown("*".repeat(N))).toEqual([el("hr", [])]);
    expect(parseMarkdown("`".repeat(N))).toEqual([el("pre", [el("code", [])])]);
    expect(parseMarkdown("#".repeat(N))).toEqual([el("p", [t("#".repeat(N))])]);
    expect(() => parseMarkdown("```\n".repeat(N / 4))).not.toThrow();
    expect(() => parseMarkdown("|".repeat(N) + "\n" + "|-".repeat(N / 2))).not.toThrow();
    expect(() => parseMarkdown("\\".repeat(N))).not.toThrow();
  });

  it("parses many pairs and alternations", () => {
    expectSame(roundTrip("*a".repeat(N / 2)), "a".repeat(N / 2));
    expectSame(roundTrip("~~a".repeat(N / 2)), "a".repeat(N / 2));
    // Code spans pair up left to right: "` `` `" is a span holding "``".
    expectSame(roundTrip("` `` ` ".repeat(N / 7).trimEnd()), "`` ".repeat(N / 7).trimEnd());
    expect(() => parseMarkdown("*_[`<&!](~".repeat(N / 10))).not.toThrow();
    expect(() => parseMarkdown("[`a`](".repeat(N / 6))).not.toThrow();
  });

  it("caps deep emphasis, keeping the delimiters it does not nest", () => {
    const depth = N / 4;
    const source = `${"*a ".repeat(depth)}b${" c*".repeat(depth)}`;
    const text = roundTrip(source);
    expect(text).toContain("b");
    // Beyond the cap the delimiters are kept as text; the rest is all there.
    expectSame(text.replace(/\*/g, ""), source.replace(/\*/g, ""));
    const container = renderInto(source);
    let deepest = 0;
    for (const em of Array.from(container.querySelectorAll("em"))) {
      let d = 0;
      for (let n: Element | null = em; n; n = n.parentElement) if (n.tagName === "EM") d++;
      deepest = Math.max(deepest, d);
    }
    expect(deepest).toBeGreaterThan(1);
    expect(deepest).toBeLessThanOrEqual(16);
  });

  it("caps nested blockquotes 10,000 deep", () => {
    const source = `${">".repeat(10_000)} deep`;
    const nodes = parseMarkdown(source);
    const text = markdownToText(nodes);
    expect(text.endsWith("> deep")).toBe(true);
    let depth = 0;
    for (let node: MdNode | undefined = nodes[0]; node?.kind === "element" && node.tag === "blockquote"; node = node.children[0]) {
      depth++;
    }
    expect(depth).toBeGreaterThan(1);
    expect(depth).toBeLessThanOrEqual(16);
    expect(() => renderInto(source)).not.toThrow();
    expect(() => parseMarkdown("> ".repeat(10_000) + "x")).not.toThrow();
  });

  it("caps deeply nested lists", () => {
    const source = Array.from({ length: 300 }, (_, i) => `${"  ".repeat(i)}- item${i}`).join("\n");
    const text = roundTrip(source);
    expect(text).toContain("item0");
    expect(text).toContain("item299");
    expect(() => renderInto(source)).not.toThrow();
    expect(() => parseMarkdown(`${"- ".repeat(N / 2)}x`)).not.toThrow();
  });

  it("never nests the tree deeper than 16, whatever is nested", () => {
    const table = ["| **a** | [b](https://example.com) |", "|---|---|", "| `c` | ~~*d*~~ |"];
    const nestedLists = Array.from({ length: 40 }, (_, i) => {
      const indent = "  ".repeat(i + 1);
      return `${"  ".repeat(i)}- level ${i}\n\n${table.map((row) => indent + row).join("\n")}`;
    });
    for (const [source, innermost] of [
      [`${"> - ".repeat(5_000)}**x** [*y*](https://example.com) \`z\``, "x y z"],
      [`${"- > ".repeat(5_000)}${"*a ".repeat(100)}end${" a*".repeat(100)}`, "end"],
      [nestedLists.join("\n\n"), "level 39"],
      // The cell's emphasis would be the 17th level: it keeps its delimiters instead.
      [table.map((row) => "> ".repeat(11) + row).join("\n"), "a\tb\nc\t*d*"],
      [`${"[![".repeat(200)}end${"](https://example.com/x.png)](https://example.com)".repeat(200)}`, "end"],
      [`${"**a ".repeat(200)}[link ${"*b ".repeat(100)}end${" b*".repeat(100)}](https://example.com)${" a**".repeat(200)}`, "end"],
    ]) {
      const nodes = parseMarkdown(source);
      expect(depthOf(nodes), source.slice(0, 16)).toBeLessThanOrEqual(16);
      expect(markdownToText(nodes)).toContain(innermost);
      expectSafe(renderInto(source));
    }
  });

  it("keeps every line of a container nested past the cap", () => {
    const deep = ">".repeat(30);
    const text = roundTrip(`${deep} a\nlazy\n${deep}\n${deep} b\n\nafter`);
    // The lazy line goes on with the paragraph before it, as it would at any depth.
    expect(text).toMatch(/>+ a\nlazy\n>+\n>+ b\n\nafter$/);
    const list = `${Array.from({ length: 20 }, (_, i) => `${"  ".repeat(i)}- item${i}`).join("\n")}\n\n- sibling`;
    const listText = roundTrip(list);
    for (let i = 0; i < 20; i++) expect(listText).toContain(`item${i}`);
    expect(listText.endsWith("sibling")).toBe(true);
  });

  it("handles a 2 MB single line", () => {
    const line = "lorem ipsum dolor sit amet ".repeat(80_000).trim();
    expect(line.length).toBeGreaterThan(2_000_000);
    expectSame(roundTrip(line), line);
    const container = renderInto(line);
    expectSame(container.textContent ?? "", line);
    const word = "a".repeat(2_000_000);
    expectSame(roundTrip(word), word);
    expectSame(roundTrip(`https://example.com/${word}`), `https://example.com/${word}`);
    expectSame(roundTrip(`**${line}**`), line);
  });

  it("handles many lines and many table rows", () => {
    const lines = "a line\n".repeat(N).trimEnd();
    expectSame(roundTrip(lines), lines);
    const table = `|a|b|\n|-|-|\n${"|1|2|\n".repeat(N / 10)}`;
    expect(roundTrip(table).split("\n")).toHaveLength(N / 10 + 1);
  });
});
