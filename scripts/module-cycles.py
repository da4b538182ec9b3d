#!/usr/bin/env python3
"""Find import cycles among the top-level modules of a Rust crate.

Usage: scripts/module-cycles.py [--quiet] SRC_DIR [SRC_DIR ...]
       scripts/module-cycles.py --self-test

SRC_DIR is a crate's `src` directory (a crate directory holding `src/` works too).
For each one the script builds the graph "top-level module A refers to top-level
module B" and prints its strongly connected components with more than one module,
each with the edges that close it and where they come from. It exits 1 if any
directory has such a cycle, 2 on a usage error, and 0 otherwise.

What counts as a module and as a reference:

- The crate roots are `lib.rs` and `main.rs`; the roots themselves are not modules.
  Their `mod` declarations are followed (`name.rs`, `name/mod.rs`, `#[path]`), so
  every file under `src/<module>/...` belongs to `<module>`, and an inline
  `mod name { ... }` in a root is a top-level module too. Files not reachable
  through `mod` declarations (e.g. `src/bin/*`, separate crates) are not read.
  Without a root, every `src/<name>.rs` and `src/<name>/...` is module `<name>`.
- References are paths `crate::m...`, `$crate::m...`, `super::...` that climb up to
  the crate root (from `src/a/b.rs`, `super::super::m`), and `use` groups under
  them (`use crate::{a, b::c}`, `use super::{x, y}` from a top-level module).
  A name that a root re-exports (`pub(crate) use state::Thing;` in lib.rs, then
  `crate::Thing` elsewhere) counts as a reference to the module it comes from.
  Only references from one top-level module to a *different* one are edges.
- Not counted: comments (doc comments included), string and char literals, items
  under `#[cfg(test)]` (or `cfg(all(test, ...))`), `#[test]`/`#[tokio::test]` items,
  files and inline modules marked `#![cfg(test)]` or declared under `#[cfg(test)]`
  (`#[cfg(test)] mod tests;`), and `pub(in crate::path)` visibilities.
- Not resolved: glob imports of the crate root (`use crate::*`) and paths that
  only macros build.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------
# Lexer: identifiers, punctuation and literals with line numbers; comments and the
# contents of literals are dropped.


@dataclass
class Tok:
    kind: str  # "ident" | "punct" | "lit" | "lifetime"
    text: str
    line: int


def _is_ident_start(c: str) -> bool:
    return c == "_" or c.isalpha()


def _is_ident_char(c: str) -> bool:
    return c == "_" or c.isalnum()


def lex(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n, line = 0, len(src), 1

    def skip_quoted(j: int, quote: str) -> int:
        """j is just after the opening quote; returns the index after the closing one."""
        nonlocal line
        while j < n:
            c = src[j]
            if c == "\\":
                if j + 1 < n and src[j + 1] == "\n":
                    line += 1
                j += 2
                continue
            if c == "\n":
                line += 1
            if c == quote:
                return j + 1
            j += 1
        return n

    def skip_raw(j: int) -> int | None:
        """j is at the first '#' or '"' after a raw prefix; None if not a raw string.
        A raw string's contents are not kept (no attribute this script reads uses one)."""
        nonlocal line
        hashes = 0
        while j < n and src[j] == "#":
            hashes += 1
            j += 1
        if j >= n or src[j] != '"':
            return None
        close = '"' + "#" * hashes
        end = src.find(close, j + 1)
        end = n if end < 0 else end + len(close)
        line += src.count("\n", j, end)
        return end

    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if src[i] == "\n":
                        line += 1
                    i += 1
        elif c == '"':
            start = line
            end = skip_quoted(i + 1, '"')
            toks.append(Tok("lit", src[i + 1 : end - 1], start))
            i = end
        elif c == "'":
            start = line
            if i + 1 < n and src[i + 1] == "\\":
                i = skip_quoted(i + 1, "'")
                toks.append(Tok("lit", "''", start))
            elif i + 2 < n and src[i + 2] == "'":
                i += 3
                toks.append(Tok("lit", "''", start))
            else:  # a lifetime or label
                j = i + 1
                while j < n and _is_ident_char(src[j]):
                    j += 1
                toks.append(Tok("lifetime", src[i:j], start))
                i = j
        elif _is_ident_start(c):
            j = i
            while j < n and _is_ident_char(src[j]):
                j += 1
            word = src[i:j]
            start = line
            if word in ("r", "br", "cr") and j < n and src[j] in '#"':
                end = skip_raw(j)
                if end is not None:
                    toks.append(Tok("lit", '""', start))
                    i = end
                    continue
                if word == "r" and j + 1 < n and _is_ident_start(src[j + 1]):
                    k = j + 1  # raw identifier r#name
                    while k < n and _is_ident_char(src[k]):
                        k += 1
                    toks.append(Tok("ident", src[j + 1 : k], start))
                    i = k
                    continue
            if word in ("b", "c") and j < n and src[j] == '"':
                i = skip_quoted(j + 1, '"')
                toks.append(Tok("lit", '""', start))
                continue
            if word == "b" and j < n and src[j] == "'":
                i = skip_quoted(j + 1, "'")
                toks.append(Tok("lit", "''", start))
                continue
            toks.append(Tok("ident", word, start))
            i = j
        elif c.isdigit():
            j = i + 1
            while j < n and (
                _is_ident_char(src[j]) or (src[j] == "." and j + 1 < n and src[j + 1].isdigit())
            ):
                j += 1
            toks.append(Tok("lit", src[i:j], line))
            i = j
        elif src.startswith("::", i):
            toks.append(Tok("punct", "::", line))
            i += 2
        else:
            toks.append(Tok("punct", c, line))
            i += 1
    return toks


# ---------------------------------------------------------------------------
# Attributes


def _matching(toks: list[Tok], i: int) -> int:
    """Index of the bracket closing the one at toks[i] (or len(toks))."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    opener = toks[i].text
    closer = pairs[opener]
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j]
        if t.kind != "punct":
            continue
        if t.text == opener:
            depth += 1
        elif t.text == closer:
            depth -= 1
            if depth == 0:
                return j
    return len(toks)


def _split_args(toks: list[Tok], open_idx: int, close_idx: int) -> list[list[Tok]]:
    """Comma-separated arguments between the brackets at open_idx and close_idx."""
    args: list[list[Tok]] = [[]]
    depth = 0
    for t in toks[open_idx + 1 : close_idx]:
        if t.kind == "punct" and t.text in "([{":
            depth += 1
        elif t.kind == "punct" and t.text in ")]}":
            depth -= 1
        if depth == 0 and t.kind == "punct" and t.text == ",":
            args.append([])
        else:
            args[-1].append(t)
    return [a for a in args if a]


def _cfg_is_test_only(pred: list[Tok]) -> bool:
    if len(pred) == 1 and pred[0].kind == "ident" and pred[0].text == "test":
        return True
    if len(pred) >= 3 and pred[0].kind == "ident" and pred[1].text == "(":
        close = _matching(pred, 1)
        args = _split_args(pred, 1, close)
        if pred[0].text == "all":
            return any(_cfg_is_test_only(a) for a in args)
        if pred[0].text == "any":
            return bool(args) and all(_cfg_is_test_only(a) for a in args)
    return False


def _attr_is_test_only(body: list[Tok]) -> bool:
    """body: the tokens between `#[` and `]`."""
    if not body:
        return False
    # #[cfg(test)], #[cfg(all(test, unix))]
    if body[0].text == "cfg" and len(body) > 2 and body[1].text == "(":
        close = _matching(body, 1)
        return _cfg_is_test_only(body[2:close])
    # #[test], #[tokio::test], #[tokio::test(flavor = "...")]
    path: list[str] = []
    for t in body:
        if t.kind == "ident":
            path.append(t.text)
        elif t.text != "::":
            break
    return bool(path) and path[-1] == "test"


def _attr_path_value(body: list[Tok]) -> str | None:
    """For #[path = "x"], the path; the lexer drops literal contents, so re-read it."""
    if len(body) == 3 and body[0].text == "path" and body[1].text == "=" and body[2].kind == "lit":
        return body[2].text
    return None


# ---------------------------------------------------------------------------
# One file


ITEM_BLOCK_KEYWORDS = {"mod", "fn", "impl", "struct", "enum", "union", "trait", "macro_rules", "extern"}
ITEM_SEMI_KEYWORDS = {"use", "const", "static", "type", "let"}
MODIFIERS = {"pub", "async", "unsafe", "default", "const"}


@dataclass
class Ref:
    owner: str  # the top-level module the reference is in
    target: str  # a top-level module name or a root alias
    line: int
    ambiguous_value: bool = False  # `crate::name` not followed by `::`


@dataclass
class ModDecl:
    name: str
    mod_path: list[str]  # the declaring module's path (file path + inline mods)
    file_dir: Path  # where `name.rs` / `name/mod.rs` are looked for
    path_attr: str | None


@dataclass
class FileScan:
    refs: list[Ref] = field(default_factory=list)
    mods: list[ModDecl] = field(default_factory=list)
    # root files only: name re-exported at the crate root -> module it comes from
    root_aliases: dict[str, set[str]] = field(default_factory=dict)
    test_only: bool = False
    # root files only: inline `mod name { ... }` at the root (top-level modules too)
    inline_top: set[str] = field(default_factory=set)


def _item_end(toks: list[Tok], i: int) -> int:
    """toks[i] starts an item, statement, field or arm; returns the index just past it."""
    j = i
    while j < len(toks) and toks[j].kind == "ident" and toks[j].text in MODIFIERS:
        if toks[j].text == "const" and (
            j + 1 >= len(toks) or toks[j + 1].text not in ("fn", "unsafe", "async", "extern")
        ):
            break  # `const NAME: T = ...;`, not `const fn`
        j += 1
        if j < len(toks) and toks[j].text == "(":  # pub(crate), pub(in path)
            j = _matching(toks, j) + 1
    kw = toks[j].text if j < len(toks) else ""
    if kw in ITEM_SEMI_KEYWORDS:
        mode = "semi"
    elif kw in ITEM_BLOCK_KEYWORDS:
        mode = "block"
    else:
        mode = "expr"
    depth = 0
    for k in range(i, len(toks)):
        t = toks[k]
        if t.kind != "punct":
            continue
        if t.text in "([{":
            depth += 1
        elif t.text in ")]}":
            depth -= 1
            if depth < 0:
                return k  # the enclosing block ends; leave its closer
            if depth == 0 and t.text == "}" and mode in ("block", "expr"):
                return k + 1
        elif depth == 0 and t.text == ";":
            return k + 1
        elif depth == 0 and t.text == "," and mode == "expr":
            return k + 1
    return len(toks)


def scan_file(src: str, file_mod_path: list[str], child_dir: Path, is_root: bool,
              module_names: set[str] | None = None) -> FileScan:
    """Scan one file. file_mod_path is its module path ([] for a root)."""
    toks = lex(src)
    out = FileScan()
    n = len(toks)
    # stack of open braces: the inline module name a brace opens, else None
    braces: list[str | None] = []
    pending_mod_name: str | None = None
    pending_path_attr: str | None = None
    i = 0

    def mod_path() -> list[str]:
        return file_mod_path + [b for b in braces if b is not None]

    def skip_to_block_end(j: int) -> int:
        """From j, skip to the `}` closing the innermost open brace (or EOF)."""
        depth = 0
        while j < n:
            t = toks[j]
            if t.kind == "punct" and t.text in "([{":
                depth += 1
            elif t.kind == "punct" and t.text in ")]}":
                depth -= 1
                if depth < 0:
                    return j
            j += 1
        return n

    def record(target: str, line: int, followed_by: Tok | None) -> None:
        mp = mod_path()
        if not mp:
            return  # in a crate root: not a module
        out.refs.append(Ref(mp[0], target, line,
                            ambiguous_value=followed_by is None or followed_by.text != "::"))

    def group_heads(open_idx: int) -> list[tuple[Tok, Tok | None]]:
        """The first segment of each element of the use group opening at open_idx."""
        close = _matching(toks, open_idx)
        heads: list[tuple[Tok, Tok | None]] = []
        k = open_idx + 1
        while k < close:
            first = toks[k]
            if first.kind == "punct" and first.text == "{":
                heads.extend(group_heads(k))  # `crate::{{a, b}}`: same level
            elif first.kind == "ident" and first.text != "self":
                heads.append((first, toks[k + 1] if k + 1 < close else None))
            # on to the next element: past the comma at this group's depth
            depth = 0
            while k < close:
                tk = toks[k]
                if tk.kind == "punct" and tk.text in "([{":
                    depth += 1
                elif tk.kind == "punct" and tk.text in ")]}":
                    depth -= 1
                elif depth == 0 and tk.kind == "punct" and tk.text == ",":
                    break
                k += 1
            k += 1
        return heads

    def parse_path(j: int) -> int:
        """toks[j] is `crate`, `$`+`crate`, `self` or `super` followed by `::`."""
        absolute = False
        ups = 0
        if toks[j].text == "$":
            j += 1
        if toks[j].text == "crate":
            absolute = True
            j += 2
        elif toks[j].text == "self":
            j += 2
        while j + 1 < n and toks[j].text == "super" and toks[j + 1].text == "::":
            ups += 1
            j += 2
        at_root = absolute or ups >= len(mod_path())
        if j >= n:
            return j
        if not at_root:
            return j
        t = toks[j]
        if t.kind == "ident":
            record(t.text, t.line, toks[j + 1] if j + 1 < n else None)
            return j + 1
        if t.kind == "punct" and t.text == "{":
            for head, after in group_heads(j):
                record(head.text, head.line, after)
            return _matching(toks, j) + 1
        return j

    def use_leaves(j: int, prefix: list[str], leaves: list[tuple[list[str], str]]) -> int:
        """Parse a use tree at toks[j]; append (path, bound name) pairs; return the end."""
        path = list(prefix)
        while j < n:
            t = toks[j]
            if t.kind == "punct" and t.text == "{":
                close = _matching(toks, j)
                k = j + 1
                while k < close:
                    k = use_leaves(k, path, leaves)
                    if k < close and toks[k].text == ",":
                        k += 1
                return close + 1
            if t.kind == "punct" and t.text == "*":
                return j + 1
            if t.kind == "punct" and t.text == "$":
                j += 1
                continue
            if t.kind == "ident":
                path.append(t.text)
                j += 1
                if j < n and toks[j].text == "::":
                    j += 1
                    continue
                bound = path[-1]
                if bound == "self" and len(path) > 1:
                    bound = path[-2]
                    path = path[:-1]
                if j + 1 < n and toks[j].text == "as" and toks[j + 1].kind == "ident":
                    bound = toks[j + 1].text
                    j += 2
                leaves.append((path, bound))
                return j
            if t.kind == "punct" and t.text == "::":
                j += 1
                continue
            return j
        return j

    while i < n:
        t = toks[i]
        # attributes
        if t.text == "#" and t.kind == "punct" and i + 1 < n:
            inner = toks[i + 1].text == "!"
            open_idx = i + 2 if inner else i + 1
            if open_idx < n and toks[open_idx].text == "[":
                close = _matching(toks, open_idx)
                body = toks[open_idx + 1 : close]
                if inner:
                    if _attr_is_test_only(body):
                        if not braces:
                            out.test_only = True
                            return out
                        i = skip_to_block_end(close + 1)
                        continue
                    i = close + 1
                    continue
                # gather all outer attributes of this item
                test_only = _attr_is_test_only(body)
                path_attr = _attr_path_value(body)
                j = close + 1
                while j + 1 < n and toks[j].text == "#" and toks[j + 1].text == "[":
                    c2 = _matching(toks, j + 1)
                    b2 = toks[j + 2 : c2]
                    test_only = test_only or _attr_is_test_only(b2)
                    path_attr = path_attr or _attr_path_value(b2)
                    j = c2 + 1
                if test_only:
                    i = _item_end(toks, j)
                    continue
                pending_path_attr = path_attr
                i = j
                continue
        if t.kind == "punct" and t.text == "{":
            braces.append(pending_mod_name)
            pending_mod_name = None
            i += 1
            continue
        if t.kind == "punct" and t.text == "}":
            if braces:
                braces.pop()
            i += 1
            continue
        if t.kind == "ident" and t.text == "mod" and i + 1 < n and toks[i + 1].kind == "ident":
            name = toks[i + 1].text
            after = toks[i + 2].text if i + 2 < n else ""
            if after == ";":
                inline = [b for b in braces if b is not None]
                out.mods.append(ModDecl(name, mod_path(), child_dir.joinpath(*inline),
                                        pending_path_attr))
                pending_path_attr = None
                i += 3
                continue
            if after == "{":
                if not mod_path():
                    out.inline_top.add(name)
                pending_mod_name = name
                pending_path_attr = None
                i += 2
                continue
        # pub(in crate::x) is a visibility, not a dependency
        if (t.text == "pub" and i + 2 < n and toks[i + 1].text == "("
                and toks[i + 2].text == "in"):
            i = _matching(toks, i + 1) + 1
            continue
        # root re-exports: use a::Thing; pub(crate) use crate::b::{C, D as E};
        if is_root and not mod_path() and t.text == "use":
            leaves: list[tuple[list[str], str]] = []
            end = use_leaves(i + 1, [], leaves)
            for path, bound in leaves:
                segs = [s for s in path if s not in ("crate", "self")]
                if path and path[0] in ("crate", "self") or (
                    module_names is not None and segs and segs[0] in module_names
                ):
                    if segs:
                        out.root_aliases.setdefault(bound, set()).add(segs[0])
            i = end
            continue
        # paths that can reach the crate root
        if (
            t.kind in ("ident", "punct")
            and t.text in ("crate", "self", "super", "$")
            and (i == 0 or toks[i - 1].text != "::")
        ):
            j = i + 1 if t.text == "$" else i
            if (
                j + 1 < n
                and toks[j].text in ("crate", "self", "super")
                and (t.text != "$" or toks[j].text == "crate")
                and toks[j + 1].text == "::"
            ):
                i = parse_path(i)
                continue
        i += 1
    return out


# ---------------------------------------------------------------------------
# The crate


@dataclass
class CrateGraph:
    modules: set[str]
    edges: dict[str, dict[str, list[tuple[Path, int]]]]  # a -> b -> evidence


def _child_file(decl: ModDecl, declaring_file: Path) -> Path | None:
    if decl.path_attr is not None:
        p = (declaring_file.parent / decl.path_attr).resolve()
        return p if p.is_file() else None
    for cand in (decl.file_dir / f"{decl.name}.rs", decl.file_dir / decl.name / "mod.rs"):
        if cand.is_file():
            return cand
    return None


def _child_dir(path: Path) -> Path:
    """Where the `mod x;` declarations of this file look for x.rs / x/mod.rs."""
    if path.name in ("mod.rs", "lib.rs", "main.rs"):
        return path.parent
    return path.parent / path.stem


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def build_graph(src_dir: Path) -> CrateGraph:
    roots = [p for p in (src_dir / "lib.rs", src_dir / "main.rs") if p.is_file()]
    # (file, module path) for every file compiled outside tests
    files: list[tuple[Path, list[str]]] = []
    inline_top: set[str] = set()  # `mod name { ... }` written inside a root
    if roots:
        seen: set[tuple[Path, tuple[str, ...]]] = set()
        queue: list[tuple[Path, list[str]]] = [(r, []) for r in roots]
        while queue:
            path, mp = queue.pop()
            key = (path.resolve(), tuple(mp))
            if key in seen:
                continue
            seen.add(key)
            src = _read(path)
            scan = scan_file(src, mp, _child_dir(path), is_root=not mp)
            if scan.test_only:
                continue
            files.append((path, mp))
            if not mp:
                inline_top |= scan.inline_top
            for decl in scan.mods:
                child = _child_file(decl, path)
                if child is None:
                    # Not fatal, but the module's references are then missing.
                    print(f"warning: {path}: no file found for `mod {decl.name};`",
                          file=sys.stderr)
                    continue
                queue.append((child, decl.mod_path + [decl.name]))
    else:
        for path in sorted(src_dir.rglob("*.rs")):
            rel = path.relative_to(src_dir)
            parts = list(rel.parts[:-1]) + ([] if rel.stem == "mod" else [rel.stem])
            files.append((path, parts))

    modules = {mp[0] for _, mp in files if mp} | inline_top
    edges: dict[str, dict[str, list[tuple[Path, int]]]] = {m: {} for m in modules}
    scans: list[tuple[Path, FileScan]] = []
    aliases: dict[str, set[str]] = {}
    for path, mp in files:
        scan = scan_file(_read(path), mp, _child_dir(path), is_root=not mp,
                         module_names=modules)
        scans.append((path, scan))
        for name, mods in scan.root_aliases.items():
            aliases.setdefault(name, set()).update(m for m in mods if m in modules)
    for path, scan in scans:
        for ref in scan.refs:
            targets: set[str] = set()
            if ref.target in modules:
                targets.add(ref.target)
            if ref.target in aliases and (ref.target not in modules or ref.ambiguous_value):
                targets |= aliases[ref.target]
            for target in targets:
                if target != ref.owner:
                    edges[ref.owner].setdefault(target, []).append((path, ref.line))
    return CrateGraph(modules, edges)


def strongly_connected(graph: CrateGraph) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.edges[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(sorted(comp))
    return sorted(comps, key=lambda c: (-len(c), c))


def report(src_dir: Path, quiet: bool) -> bool:
    """Print the cycles of one crate; True if there is one."""
    graph = build_graph(src_dir)
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    if not cycles:
        if not quiet:
            print(f"{src_dir}: no cycle among {len(graph.modules)} top-level modules")
        return False
    for comp in cycles:
        print(f"{src_dir}: cycle of {len(comp)} modules: {{{', '.join(comp)}}}")
        members = set(comp)
        for a in comp:
            for b in sorted(graph.edges[a]):
                if b not in members:
                    continue
                evidence = graph.edges[a][b]
                path, line = evidence[0]
                try:
                    shown = path.relative_to(src_dir)
                except ValueError:
                    shown = path
                more = f" (+{len(evidence) - 1} more)" if len(evidence) > 1 else ""
                print(f"  {a} -> {b}  {shown}:{line}{more}")
    return True


# ---------------------------------------------------------------------------
# Self-test: small crates written to a temporary directory.

# (what it checks, files under src/, edge -> how many references make it)
SELF_TESTS: list[tuple[str, dict[str, str], dict[tuple[str, str], int]]] = [
    (
        "paths, groups and nested groups",
        {
            "lib.rs": "mod a; mod b; mod c; mod d;",
            "a.rs": "fn f() { crate::b::g(); }",
            "b.rs": "use crate::{c, d::{x, y}};\nuse crate::{self as root};",
            "c.rs": "use crate::{\n    b::Z,\n};",
            "d.rs": "",
        },
        {("a", "b"): 1, ("b", "c"): 1, ("b", "d"): 1, ("c", "b"): 1},
    ),
    (
        "files under src/<module>/ and super:: climbing",
        {
            "lib.rs": "pub mod a;\nmod b;\nmod c;",
            "a/mod.rs": "mod inner;\nuse super::b::Thing;",
            "a/inner.rs": "use super::sibling;\nuse super::super::c;\nmod deeper { use super::super::super::b; }",
            "b.rs": "mod x { use super::super::c::D; use super::y; }",
            "c.rs": "pub struct D;",
        },
        {("a", "b"): 2, ("a", "c"): 1, ("b", "c"): 1},
    ),
    (
        "re-exports at the root resolve to their module",
        {
            "lib.rs": "mod a;\nmod b;\nmod c;\npub(crate) use b::Thing;\npub use crate::c::{One, two as Two};\nuse self::a::Alone;",
            "a.rs": "use crate::Thing;\nfn f() { crate::Two(); }",
            "b.rs": "pub(crate) use crate::c::One;",
            "c.rs": "fn g() -> crate::Alone { todo!() }",
        },
        {("a", "b"): 1, ("a", "c"): 1, ("b", "c"): 1, ("c", "a"): 1},
    ),
    (
        "test code, comments and literals do not count",
        {
            "main.rs": "mod a;\nmod b;\nmod c;\n#[cfg(test)]\nmod testing;",
            "testing.rs": "use crate::a;",
            "a.rs": (
                "//! see crate::b::X\n"
                "/// use crate::b;\n"
                "/* crate::b /* nested crate::b */ crate::b */\n"
                "const S: &str = \"crate::b::X \\\" crate::b\";\n"
                "const R: &str = r#\"crate::b \" crate::b\"#;\n"
                "const Q: char = '\"'; const P: char = '\\''; fn l<'x>(v: &'x str) {}\n"
                "#[cfg(test)]\nuse crate::b::T;\n"
                "#[cfg(all(test, unix))]\nfn t() { crate::b::f(); }\n"
                "#[test]\nfn u() { crate::b::f(); }\n"
                "#[tokio::test(flavor = \"multi_thread\")]\nasync fn v() { crate::b::f(); }\n"
                "#[cfg(test)]\n#[allow(dead_code)]\nconst W: HashMap<A, B> = crate::b::w();\n"
                "#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::b;\n    fn x() { let _ = '{'; crate::b::f(); }\n}\n"
                "pub(in crate::b) fn vis() {}\n"
                "struct S {\n    #[cfg(test)]\n    f: crate::b::F,\n    g: u8,\n}\n"
                "#[cfg(test)]\nimpl<A, B> From<A> for S<B> { fn from(_: A) -> Self { crate::b::f() } }\n"
                "#[cfg(test)]\nmod tests;\n"
                "fn kept() { crate::b::counted(); }\n"
            ),
            "a/tests.rs": "use crate::b;",
            "b.rs": "pub fn counted() {}",
            "c.rs": "#![cfg(test)]\nuse crate::a;",
        },
        {("a", "b"): 1},
    ),
    (
        "cfg that is not test-only counts; $crate counts",
        {
            "lib.rs": "mod a;\nmod b;\nmod c;",
            "a.rs": "#[cfg(any(test, feature = \"x\"))]\nuse crate::b;\n#[cfg(not(test))]\nuse crate::c;",
            "b.rs": "macro_rules! m { () => { $crate::c::f() }; }",
            "c.rs": "",
        },
        {("a", "b"): 1, ("a", "c"): 1, ("b", "c"): 1},
    ),
    (
        "inline top-level modules in the root and #[path]",
        {
            "lib.rs": "mod a { use crate::b::X; }\n#[path = \"elsewhere/real_b.rs\"]\nmod b;",
            "elsewhere/real_b.rs": "use crate::a;",
        },
        {("a", "b"): 1, ("b", "a"): 1},
    ),
]


def self_test() -> int:
    import tempfile

    failures = 0
    for name, files, expected in SELF_TESTS:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for rel, text in files.items():
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            graph = build_graph(root)
            got = {
                (a, b): len(refs) for a, targets in graph.edges.items() for b, refs in targets.items()
            }
            if got != expected:
                failures += 1
                print(f"FAIL {name}\n  expected {sorted(expected.items())}\n  got      {sorted(got.items())}")
            else:
                print(f"ok   {name}")
    # the cycle report and the exit code
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "lib.rs").write_text("mod a; mod b; mod c;")
        (root / "a.rs").write_text("use crate::b;")
        (root / "b.rs").write_text("use crate::a; use crate::c;")
        (root / "c.rs").write_text("")
        comps = [c for c in strongly_connected(build_graph(root)) if len(c) > 1]
        if comps != [["a", "b"]]:
            failures += 1
            print(f"FAIL strongly connected components: {comps}")
        else:
            print("ok   strongly connected components")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    args = argv[1:]
    if args == ["--self-test"]:
        return self_test()
    quiet = False
    if args and args[0] in ("-q", "--quiet"):
        quiet, args = True, args[1:]
    if not args or any(a in ("-h", "--help") for a in args):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    found = False
    for arg in args:
        src_dir = Path(arg)
        if not (src_dir / "lib.rs").is_file() and not (src_dir / "main.rs").is_file() \
                and (src_dir / "src").is_dir():
            src_dir = src_dir / "src"
        if not src_dir.is_dir():
            print(f"{arg}: not a directory", file=sys.stderr)
            return 2
        found |= report(src_dir, quiet)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
