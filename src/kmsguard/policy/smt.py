"""Z3 building blocks shared by the policy encoding: IAM's glob and ARN patterns as
regular expressions, case-insensitive literals, numeric comparisons, IP networks as
128-bit vectors, and reading values back out of a model."""

from __future__ import annotations

import ipaddress
import re
from fractions import Fraction
from typing import Any

import z3

from .values import Lit, Var, Wild

_IPV4_MAPPED = 0xFFFF << 32


def lit(toks: tuple[Lit | Wild | Var, ...]) -> str:
    return "".join(
        t.text if isinstance(t, Lit) else t.char if isinstance(t, Wild) else "" for t in toks
    )


def ci_literal(text: str, ctx: Any) -> Any:
    parts = []
    for ch in text:
        lo, up = ch.lower(), ch.upper()
        parts.append(z3.Re(ch, ctx) if lo == up else z3.Union(z3.Re(lo, ctx), z3.Re(up, ctx)))
    if not parts:
        return z3.Re("", ctx)
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def any_char(ctx: Any) -> Any:
    return z3.AllChar(z3.ReSort(z3.StringSort(ctx)))


# IAM values here are printable ASCII; a small alphabet keeps regex reasoning fast
z3.set_param("encoding", "ascii")


# [^:] as two ranges around ":" (0x3A)
def not_colon(ctx: Any) -> Any:
    return z3.Union(z3.Range(" ", "9", ctx), z3.Range(";", "~", ctx))


def glob_re(toks: tuple[Lit | Wild | Var, ...], *, arn: bool, ctx: Any) -> Any:
    parts: list[Any] = []
    colons = 0
    in_segment = not_colon(ctx) if arn else None
    for t in toks:
        if isinstance(t, Lit):
            parts.append(z3.Re(t.text, ctx))
            colons += t.text.count(":")
        elif isinstance(t, Wild):
            one = in_segment if (arn and colons < 5) else any_char(ctx)
            parts.append(z3.Star(one) if t.char == "*" else one)
    if not parts:
        return z3.Re("", ctx)
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def py_glob(pattern: str, *, colon: bool) -> str:
    any_run = ".*" if colon else "[^:]*"
    return "".join(any_run if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def cmp(op: str, var: Any, value: float) -> Any:
    c = z3.RealVal(str(Fraction(value).limit_denominator(10**9)), var.ctx)
    match op:
        case "eq":
            return var == c
        case "lt":
            return var < c
        case "le":
            return var <= c
        case "gt":
            return var > c
        case "ge":
            return var >= c
    return z3.BoolVal(False, var.ctx)


def network128(cidr: str) -> tuple[int, int] | None:
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None
    if net.version == 4:
        return _IPV4_MAPPED | int(net.network_address), 96 + net.prefixlen
    return int(net.network_address), net.prefixlen


def ip_text(n: int) -> str:
    if n >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(n & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(n))


def model_str(model: Any, expr: Any) -> str:
    val = model.eval(expr, model_completion=True)
    return str(val.as_string())


def model_real(val: Any) -> Fraction:
    if z3.is_int_value(val):
        return Fraction(val.as_long())
    if z3.is_rational_value(val):
        return Fraction(val.numerator_as_long(), val.denominator_as_long())
    return Fraction(str(val.as_decimal(12)).rstrip("?"))
