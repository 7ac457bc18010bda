"""Terraform values: conversions, operators, the built-in functions kmsguard evaluates,
and the AWS provider's statement merge for policy documents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from kmsguard import strictjson
from kmsguard.iac.items import Unresolved


def to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    if value is None:
        raise Unresolved("a null value inside a string")
    raise Unresolved("a list or object inside a string")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def binary_op(op: str, left: Any, right: Any) -> Any:
    match op:
        case "==":
            return left == right
        case "!=":
            return left != right
        case "&&" | "||":
            if not isinstance(left, bool) or not isinstance(right, bool):
                raise Unresolved(f"`{op}` of values that are not booleans")
            return (left and right) if op == "&&" else (left or right)
    numeric = (int, float)
    if not isinstance(left, numeric) or not isinstance(right, numeric):
        raise Unresolved(f"`{op}` of values that are not numbers")
    match op:
        case "+":
            return left + right
        case "-":
            return left - right
        case "*":
            return left * right
        case "/":
            if right == 0:
                raise Unresolved("division by zero")
            return left / right
        case "%":
            if right == 0:
                raise Unresolved("division by zero")
            return left % right
        case "<":
            return left < right
        case ">":
            return left > right
        case "<=":
            return left <= right
        case ">=":
            return left >= right
    raise Unresolved(f"operator `{op}` is not evaluated")


def jsondecode(text: Any) -> Any:
    if not isinstance(text, str):
        raise Unresolved("`jsondecode()` of a value that is not a string")
    try:
        return strictjson.loads(text)
    except json.JSONDecodeError as exc:
        raise Unresolved(f"`jsondecode()` of malformed JSON: {exc.msg}") from None


def _format(fmt: str, *args: Any) -> str:
    it = iter(args)

    def repl(m: re.Match[str]) -> str:
        spec = m.group(0)
        if spec == "%%":
            return "%"
        value = next(it)
        if spec.endswith("q"):
            return json.dumps(to_str(value))
        if spec.endswith("d"):
            return str(int(value))
        return to_str(value) if not isinstance(value, list | dict) else json.dumps(value)

    return re.sub(r"%%|%[-+ #0-9.]*[sdvqf]", repl, fmt)


def _flatten(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in value:
        if isinstance(v, list):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _distinct(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in value:
        if v not in out:
            out.append(v)
    return out


def _merge(*maps: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in maps:
        if m is None:
            continue
        if not isinstance(m, dict):
            raise Unresolved("`merge()` of a value that is not an object")
        out.update(m)
    return out


def _coalesce(*args: Any) -> Any:
    for a in args:
        if a is not None and a != "":
            return a
    raise Unresolved("`coalesce()` found no value")


def _lookup(m: Any, key: Any, *default: Any) -> Any:
    if isinstance(m, dict) and key in m:
        return m[key]
    if default:
        return default[0]
    raise Unresolved(f"`lookup()` finds no `{key}`")


def _replace(s: Any, old: Any, new: Any) -> str:
    if isinstance(old, str) and len(old) > 1 and old.startswith("/") and old.endswith("/"):
        raise Unresolved("`replace()` with a regular expression is not evaluated")
    return to_str(s).replace(to_str(old), to_str(new))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "jsonencode": lambda v: json.dumps(v, indent=None, separators=(",", ":")),
    "jsondecode": jsondecode,
    "format": _format,
    "join": lambda sep, *lists: to_str(sep).join(to_str(x) for lst in lists for x in lst),
    "split": lambda sep, s: to_str(s).split(to_str(sep)),
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "merge": _merge,
    "lower": lambda s: to_str(s).lower(),
    "upper": lambda s: to_str(s).upper(),
    "trimspace": lambda s: to_str(s).strip(),
    "chomp": lambda s: to_str(s).rstrip("\r\n"),
    "replace": _replace,
    "tolist": list,
    "toset": lambda v: _distinct(list(v)),
    "tostring": to_str,
    "tonumber": lambda v: float(v) if "." in str(v) else int(v),
    "tomap": dict,
    "flatten": _flatten,
    "distinct": _distinct,
    "compact": lambda v: [x for x in v if x is not None and x != ""],
    "coalesce": _coalesce,
    "coalescelist": lambda *ls: next(lst for lst in ls if lst),
    "lookup": _lookup,
    "element": lambda lst, i: lst[int(i) % len(lst)],
    "length": len,
    "keys": sorted,
    "values": lambda m: [m[k] for k in sorted(m)],
    "contains": lambda lst, v: v in lst,
    "sort": lambda lst: sorted(to_str(x) for x in lst),
    "formatlist": lambda fmt, lst: [_format(fmt, x) for x in lst],
    "one": lambda lst: lst[0] if lst else None,
}


def statements_of(document: Any) -> list[dict[str, Any]]:
    doc = jsondecode(document) if isinstance(document, str) else document
    if not isinstance(doc, dict):
        raise Unresolved("a source policy document is not an object")
    st = doc.get("Statement", [])
    if isinstance(st, dict):
        st = [st]
    if not isinstance(st, list):
        raise Unresolved("a source policy document has no statement list")
    return [s for s in st if isinstance(s, dict)]


def merge_statements(
    base: list[dict[str, Any]], newer: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The AWS provider's rule: a statement with the Sid of an earlier one replaces it;
    statements without a Sid (or with a new one) are appended."""
    out = list(base)
    for st in newer:
        sid = st.get("Sid")
        idx = next((i for i, s in enumerate(out) if sid and s.get("Sid") == sid), None)
        if idx is None:
            out.append(st)
        else:
            out[idx] = st
    return out
