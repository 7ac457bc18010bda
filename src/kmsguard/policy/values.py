"""Policy values with policy variables and wildcards, parsed once into tokens.

`${aws:PrincipalAccount}` is replaced from the request (so it pins nothing); `${*}`, `${?}`
and `${$}` are literal characters; `*` and `?` are wildcards only for Like/Arn operators.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Lit:
    text: str


@dataclass(frozen=True, slots=True)
class Wild:
    char: str  # "*" or "?"


@dataclass(frozen=True, slots=True)
class Var:
    key: str  # lower-cased condition key
    default: str | None


Token = Lit | Wild | Var

_VAR = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@lru_cache(maxsize=8192)
def tokens(value: str, wildcards: bool) -> tuple[Token, ...]:
    out: list[Token] = []

    def add_text(text: str) -> None:
        if not wildcards:
            if text:
                out.append(Lit(text))
            return
        buf = ""
        for ch in text:
            if ch in "*?":
                if buf:
                    out.append(Lit(buf))
                    buf = ""
                out.append(Wild(ch))
            else:
                buf += ch
        if buf:
            out.append(Lit(buf))

    pos = 0
    for m in _VAR.finditer(value):
        add_text(value[pos : m.start()])
        inner = m.group(1).strip()
        if inner in _ESCAPES:
            out.append(Lit(_ESCAPES[inner]))
        else:
            key, _, default = inner.partition(",")
            d = default.strip()
            dflt = d[1:-1] if len(d) >= 2 and d[0] == d[-1] == "'" else None
            out.append(Var(key.strip().lower(), dflt))
        pos = m.end()
    add_text(value[pos:])
    return _merge(out)


def _merge(toks: list[Token]) -> tuple[Token, ...]:
    merged: list[Token] = []
    for t in toks:
        if isinstance(t, Lit) and merged and isinstance(merged[-1], Lit):
            merged[-1] = Lit(merged[-1].text + t.text)
        else:
            merged.append(t)
    return tuple(merged)


def resolve(
    toks: Sequence[Token], context: Mapping[str, Sequence[str]]
) -> tuple[Lit | Wild, ...] | None:
    """Substitute variables from the request; None when one cannot be resolved."""
    out: list[Lit | Wild] = []
    for t in toks:
        if isinstance(t, Var):
            vals = context.get(t.key)
            if vals and len(vals) == 1:
                out.append(Lit(vals[0]))
            elif t.default is not None:
                out.append(Lit(t.default))
            else:
                return None
        else:
            out.append(t)
    return tuple(out)


def literal_tokens(value: str) -> tuple[Lit | Wild, ...]:
    """`value` as a pattern with `*`/`?` wildcards and no variables (`${` is plain text)."""
    out: list[Lit | Wild] = []
    for ch in value:
        if ch in "*?":
            out.append(Wild(ch))
        elif out and isinstance(out[-1], Lit):
            out[-1] = Lit(out[-1].text + ch)
        else:
            out.append(Lit(ch))
    return tuple(out)


def glob_regex(
    toks: Sequence[Lit | Wild], *, arn: bool = False, ignore_case: bool = False
) -> re.Pattern[str]:
    """A compiled regex for Like (`*` any run, `?` one char) or Arn matching, where wildcards
    do not cross the `:` between the first five ARN components."""
    parts: list[str] = []
    colons = 0
    for t in toks:
        if isinstance(t, Lit):
            parts.append(re.escape(t.text))
            colons += t.text.count(":")
        else:
            in_head = arn and colons < 5
            if t.char == "*":
                parts.append("[^:]*" if in_head else ".*")
            else:
                parts.append("[^:]" if in_head else ".")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return _compile("".join(parts), flags)


def resource_regex(toks: Sequence[Lit | Wild]) -> re.Pattern[str]:
    """A compiled regex for a `Resource` ARN pattern. IAM: wildcards stay inside one
    colon-separated segment, except a `*` that is the last character of a segment, which
    may match across colons (`arn:aws:kms:*` covers every KMS ARN of the partition)."""
    parts: list[str] = []
    colons = 0
    for i, t in enumerate(toks):
        if isinstance(t, Lit):
            parts.append(re.escape(t.text))
            colons += t.text.count(":")
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        ends_segment = nxt is None or (isinstance(nxt, Lit) and nxt.text.startswith(":"))
        if t.char == "*":
            parts.append(".*" if ends_segment or colons >= 5 else "[^:]*")
        else:
            parts.append("." if colons >= 5 else "[^:]")
    return _compile("".join(parts), re.DOTALL)


@lru_cache(maxsize=8192)
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def literal(toks: Sequence[Lit | Wild]) -> str:
    return "".join(t.text if isinstance(t, Lit) else t.char for t in toks)
