"""HCL2 text to a Lark tree (python-hcl2's grammar, which keeps line numbers), the
blocks of a file, string escapes, heredocs, and template texts with their directives."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from kmsguard.iac.items import Unresolved

Node = Tree[Token] | Token


class HclParseError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def parse_hcl(text: str) -> Tree[Token]:
    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedInput as exc:
        raise HclParseError(
            f"malformed HCL: unexpected {_describe_unexpected(exc)}", exc.line
        ) from None
    except (LarkError, RecursionError) as exc:
        raise HclParseError(f"malformed HCL: {str(exc).splitlines()[0]}") from None
    assert isinstance(tree, Tree)
    return tree


def _describe_unexpected(exc: UnexpectedInput) -> str:
    token = getattr(exc, "token", None)
    if token is not None:
        return f"`{str(token)[:40]}`"
    char = getattr(exc, "char", None)
    return f"character `{char}`" if char else "input"


# -- tree helpers ---------------------------------------------------------------------


def name_of(node: Node) -> str:
    if isinstance(node, Token):
        return str(node)
    if node.data == "string":
        return "".join(str(p.children[0]) for p in node.children if isinstance(p, Tree))
    return str(node.children[0])


def trees(node: Tree[Token]) -> list[Tree[Token]]:
    """Children that carry meaning (no punctuation tokens, no newlines/comments)."""
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


@dataclass(slots=True)
class Block:
    type: str
    labels: tuple[str, ...]
    attrs: dict[str, Tree[Token]]
    blocks: list[Block]
    file: Path
    display: str
    line: int
    end_line: int


def parse_body(
    body: Tree[Token], file: Path, display: str
) -> tuple[dict[str, Tree[Token]], list[Block]]:
    attrs: dict[str, Tree[Token]] = {}
    blocks: list[Block] = []
    for child in trees(body):
        if child.data == "attribute":
            parts = trees(child)
            attrs[name_of(parts[0])] = parts[-1]
        elif child.data == "block":
            blocks.append(parse_block(child, file, display))
    return attrs, blocks


def parse_block(node: Tree[Token], file: Path, display: str) -> Block:
    parts = trees(node)
    body = parts[-1]
    head = [name_of(p) for p in parts[:-1]]
    attrs, blocks = parse_body(body, file, display)
    return Block(
        type=head[0],
        labels=tuple(head[1:]),
        attrs=attrs,
        blocks=blocks,
        file=file,
        display=display,
        line=node.meta.line,
        end_line=node.meta.end_line,
    )


# -- string escapes and templates ---------------------------------------------------

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)


def unescape(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        s = m.group(1)
        if s[0] in "uU" and len(s) > 1:
            return chr(int(s[1:], 16))
        return _ESCAPES.get(s, "\\" + s)

    return _ESCAPE_RE.sub(repl, text)


def heredoc_body(token: str, *, trim: bool) -> str:
    first_nl = token.index("\n")
    body = token[first_nl + 1 :]
    # drop the closing marker line
    body = body.rstrip("\n")
    last_nl = body.rfind("\n")
    body = body[: last_nl + 1] if last_nl >= 0 else ""
    if trim:
        lines = body.split("\n")
        indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
        cut = min(indents, default=0)
        body = "\n".join(ln[cut:] for ln in lines)
    return body


def split_template(text: str) -> Iterator[tuple[bool, str]]:
    """(is_expression, text) pieces of a template: `${expr}` interpolations, `$${` escapes.
    `%{` directives raise Unresolved."""
    i = 0
    buf: list[str] = []
    n = len(text)
    while i < n:
        if text.startswith("$${", i) or text.startswith("%%{", i):
            buf.append(text[i + 1 : i + 3])
            i += 3
            continue
        if text.startswith("%{", i):
            raise Unresolved("template directives (`%{ if }` / `%{ for }`) are not evaluated")
        if text.startswith("${", i):
            end = matching_brace(text, i + 2)
            if buf:
                yield False, "".join(buf)
                buf = []
            yield True, text[i + 2 : end]
            i = end + 1
            continue
        buf.append(text[i])
        i += 1
    if buf:
        yield False, "".join(buf)


def template_tokens(text: str) -> list[tuple[str, str]]:
    """("lit", text), ("expr", source) and ("dir", source) tokens; strip markers applied."""
    out: list[tuple[str, str]] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith(("$${", "%%{"), i):
            buf.append(text[i + 1 : i + 3])
            i += 3
            continue
        if text.startswith(("${", "%{"), i):
            end = matching_brace(text, i + 2)
            inner = text[i + 2 : end]
            lit = "".join(buf)
            buf = []
            if inner.startswith("~"):
                lit = lit.rstrip()
                inner = inner[1:]
            strip_right = inner.endswith("~")
            if strip_right:
                inner = inner[:-1]
            if lit:
                out.append(("lit", lit))
            out.append(("expr" if text[i] == "$" else "dir", inner.strip()))
            i = end + 1
            if strip_right:
                while i < n and text[i] in " \t\r\n":
                    i += 1
            continue
        buf.append(text[i])
        i += 1
    if buf:
        out.append(("lit", "".join(buf)))
    return out


_FOR_DIRECTIVE = re.compile(r"^for\s+(\w+)(?:\s*,\s*(\w+))?\s+in\s+(.+)$", re.DOTALL)


def template_nodes(text: str) -> list[Any]:
    """The template as a tree: ("lit", s), ("expr", src), ("if", cond, then, else),
    ("for", names, collection, body)."""
    tokens = template_tokens(text)

    def parse(pos: int, stops: tuple[str, ...]) -> tuple[list[Any], int, str | None]:
        nodes: list[Any] = []
        while pos < len(tokens):
            kind, value = tokens[pos]
            if kind != "dir":
                nodes.append((kind, value))
                pos += 1
                continue
            word = value.split(None, 1)[0] if value else ""
            if word in stops:
                return nodes, pos + 1, word
            if word == "if":
                then, pos, stop = parse(pos + 1, ("else", "endif"))
                other: list[Any] = []
                if stop == "else":
                    other, pos, stop = parse(pos, ("endif",))
                if stop != "endif":
                    raise Unresolved("`%{ if }` without `%{ endif }` in a template")
                nodes.append(("if", value[2:].strip(), then, other))
            elif word == "for":
                m = _FOR_DIRECTIVE.match(value)
                if m is None:
                    raise Unresolved(f"cannot read the template directive `%{{{value}}}`")
                names = tuple(x for x in (m.group(1), m.group(2)) if x)
                body, pos, stop = parse(pos + 1, ("endfor",))
                if stop != "endfor":
                    raise Unresolved("`%{ for }` without `%{ endfor }` in a template")
                nodes.append(("for", names, m.group(3).strip(), body))
            else:
                raise Unresolved(f"unexpected template directive `%{{{value}}}`")
        return nodes, pos, None

    nodes, _, _ = parse(0, ())
    return nodes


def matching_brace(text: str, start: int) -> int:
    depth = 0
    i = start
    in_str = False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise Unresolved("unterminated `${` in a template")


def parse_expression(source: str) -> Tree[Token]:
    try:
        tree = parse_hcl(f"x = {source.strip()}\n")
    except HclParseError:
        raise Unresolved(f"cannot parse the template expression `{source.strip()[:60]}`") from None
    attr = trees(trees(tree)[0])[0]
    return trees(attr)[-1]
