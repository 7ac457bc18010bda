"""Terraform values: conversions, operators, the built-in functions kmsguard evaluates,
and the AWS provider's statement merge for policy documents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from kmsguard import strictjson
from kmsguard.iac.items import Unresolved
from kmsguard.iac.unknowns import Unknown, has_unknown


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
    if has_unknown(left) or has_unknown(right):
        raise Unresolved(f"`{op}` of a value known only at deployment")
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


def _regex(pattern: Any, s: Any) -> Any:
    m = re.search(to_str(pattern), to_str(s))
    if m is None:
        raise Unresolved("`regex()` does not match")
    if m.groupdict():
        return m.groupdict()
    return list(m.groups()) if m.groups() else m.group(0)


def _regexall(pattern: Any, s: Any) -> list[Any]:
    out: list[Any] = []
    for m in re.finditer(to_str(pattern), to_str(s)):
        if m.groupdict():
            out.append(m.groupdict())
        else:
            out.append(list(m.groups()) if m.groups() else m.group(0))
    return out


def _replace(s: Any, old: Any, new: Any) -> str:
    text, pattern, repl = to_str(s), to_str(old), to_str(new)
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        # Terraform's `$1` / `${name}` references in the replacement
        py = re.sub(r"\$\{?(\w+)\}?", lambda m: f"\\g<{m.group(1)}>", repl)
        return re.sub(pattern[1:-1], py, text)
    return text.replace(pattern, repl)


def _one(lst: Any) -> Any:
    if not isinstance(lst, list):
        raise Unresolved("`one()` of a value that is not a list")
    if len(lst) > 1:
        raise Unresolved("`one()` of a list with more than one element")
    return lst[0] if lst else None


def _coalescelist(*lists: Any) -> Any:
    for lst in lists:
        if lst:
            return lst
    raise Unresolved("`coalescelist()` found no non-empty list")


def _element(lst: Any, i: Any) -> Any:
    if not isinstance(lst, list) or not lst:
        raise Unresolved("`element()` of an empty list")
    return lst[int(i) % len(lst)]


def _tobool(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if v in ("true", "false"):
        return v == "true"
    raise Unresolved(f"`tobool()` of `{v}`")


def _tonumber(v: Any) -> Any:
    if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
        return v
    text = to_str(v)
    return float(text) if any(c in text for c in ".eE") else int(text)


def _tomap(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise Unresolved("`tomap()` of a value that is not an object")
    return {str(k): x for k, x in v.items()}


def _keys(m: Any) -> list[Any]:
    if not isinstance(m, dict):
        raise Unresolved("`keys()` of a value that is not a map")
    return sorted(m)


def _values(m: Any) -> list[Any]:
    if not isinstance(m, dict):
        raise Unresolved("`values()` of a value that is not a map")
    return [m[k] for k in sorted(m)]


def _setop(kind: str) -> Callable[..., list[Any]]:
    def op(first: Any, *rest: Any) -> list[Any]:
        out = _distinct(list(first))
        for other in rest:
            items = list(other)
            if kind == "union":
                out = _distinct(out + items)
            elif kind == "intersection":
                out = [x for x in out if x in items]
            else:
                out = [x for x in out if x not in items]
        return out

    return op


def _zipmap(keys: Any, vals: Any) -> dict[str, Any]:
    if len(keys) != len(vals):
        raise Unresolved("`zipmap()` of lists of different lengths")
    return {to_str(k): v for k, v in zip(keys, vals, strict=True)}


def _slice(lst: Any, start: Any, end: Any) -> list[Any]:
    return list(lst)[int(start) : int(end)]


def _range(*args: Any) -> list[Any]:
    nums = [int(a) for a in args]
    if len(nums) == 1:
        return list(range(nums[0]))
    return list(range(*nums))


def _index(lst: Any, v: Any) -> int:
    if v not in lst:
        raise Unresolved("`index()` finds no such element")
    return int(list(lst).index(v))


def _transpose(m: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, vs in m.items():
        for v in vs:
            out.setdefault(to_str(v), []).append(k)
    return {k: sorted(v) for k, v in sorted(out.items())}


def _matchkeys(values: Any, keys: Any, search: Any) -> list[Any]:
    return [v for v, k in zip(values, keys, strict=True) if k in search]


def _chunklist(lst: Any, size: Any) -> list[Any]:
    n = int(size)
    items = list(lst)
    if n <= 0:
        return [items]
    return [items[i : i + n] for i in range(0, len(items), n)]


def _setproduct(*sets: Any) -> list[Any]:
    import itertools

    return [list(p) for p in itertools.product(*sets)]


def _yamldecode(text: Any) -> Any:
    import yaml

    try:
        return yaml.safe_load(to_str(text))
    except yaml.YAMLError as exc:
        raise Unresolved(f"`yamldecode()` of malformed YAML: {exc}") from None


def _base64decode(text: Any) -> str:
    import base64

    return base64.b64decode(to_str(text)).decode("utf-8")


def _base64encode(text: Any) -> str:
    import base64

    return base64.b64encode(to_str(text).encode("utf-8")).decode("ascii")


def _indent(n: Any, s: Any) -> str:
    return to_str(s).replace("\n", "\n" + " " * int(n))


def _substr(s: Any, offset: Any, length: Any) -> str:
    text, start, size = to_str(s), int(offset), int(length)
    if start < 0:
        start += len(text)
    return text[start:] if size < 0 else text[start : start + size]


def _alltrue(lst: Any) -> bool:
    return all(v is True or v == "true" for v in lst)


def _anytrue(lst: Any) -> bool:
    return any(v is True or v == "true" for v in lst)


def _signum(v: Any) -> int:
    return int((v > 0) - (v < 0))


def _dirname(p: Any) -> str:
    import posixpath

    return posixpath.dirname(to_str(p)) or "."


def _basename(p: Any) -> str:
    import posixpath

    return posixpath.basename(to_str(p))


def _urlencode(s: Any) -> str:
    from urllib.parse import quote

    return quote(to_str(s), safe="")


def _csvdecode(text: Any) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(to_str(text))))


def _arn_build(partition: Any, service: Any, region: Any, account: Any, resource: Any) -> str:
    return ":".join(("arn", *(to_str(p) for p in (partition, service, region, account, resource))))


def _arn_parse(arn: Any) -> dict[str, str]:
    parts = to_str(arn).split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    keys = ("partition", "service", "region", "account_id", "resource")
    return dict(zip(keys, parts[1:], strict=True))


def _trim_iam_role_path(arn: Any) -> str:
    """`arn:aws:iam::1:role/a/b/name` -> `arn:aws:iam::1:role/name`."""
    if isinstance(arn, Unknown):
        return arn  # still the same role, whatever its path
    head, _, resource = to_str(arn).rpartition(":")
    if not resource.startswith("role/"):
        raise ValueError(f"not an IAM role ARN: {arn!r}")
    return f"{head}:role/{resource.rsplit('/', 1)[-1]}"


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # the AWS provider's functions (Terraform 1.8+), as `provider::aws::NAME(…)`
    "provider::aws::arn_build": _arn_build,
    "provider::aws::arn_parse": _arn_parse,
    "provider::aws::trim_iam_role_path": _trim_iam_role_path,
    # encoding
    "jsonencode": lambda v: json.dumps(v, indent=None, separators=(",", ":"), ensure_ascii=False),
    "jsondecode": jsondecode,
    "yamldecode": _yamldecode,
    "yamlencode": lambda v: json.dumps(v, ensure_ascii=False),  # JSON is YAML
    "csvdecode": _csvdecode,
    "base64encode": _base64encode,
    "base64decode": _base64decode,
    "urlencode": _urlencode,
    # strings
    "format": _format,
    "formatlist": lambda fmt, lst: [_format(fmt, x) for x in lst],
    "join": lambda sep, *lists: to_str(sep).join(to_str(x) for lst in lists for x in lst),
    "split": lambda sep, s: to_str(s).split(to_str(sep)),
    "lower": lambda s: to_str(s).lower(),
    "upper": lambda s: to_str(s).upper(),
    "title": lambda s: to_str(s).title(),
    "trimspace": lambda s: to_str(s).strip(),
    "trim": lambda s, chars: to_str(s).strip(to_str(chars)),
    "trimprefix": lambda s, p: to_str(s).removeprefix(to_str(p)),
    "trimsuffix": lambda s, p: to_str(s).removesuffix(to_str(p)),
    "chomp": lambda s: to_str(s).rstrip("\r\n"),
    "indent": _indent,
    "replace": _replace,
    "regex": _regex,
    "regexall": _regexall,
    "substr": _substr,
    "strrev": lambda s: to_str(s)[::-1],
    "startswith": lambda s, p: to_str(s).startswith(to_str(p)),
    "endswith": lambda s, p: to_str(s).endswith(to_str(p)),
    "strcontains": lambda s, p: to_str(p) in to_str(s),
    # conversions
    "tostring": lambda v: None if v is None else to_str(v),
    "tonumber": _tonumber,
    "tobool": _tobool,
    "tolist": list,
    "toset": lambda v: _distinct(list(v)),
    "tomap": _tomap,
    "sensitive": lambda v: v,
    "nonsensitive": lambda v: v,
    "issensitive": lambda _v: False,
    "ephemeralasnull": lambda v: v,
    # collections
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "merge": _merge,
    "flatten": _flatten,
    "distinct": _distinct,
    "compact": lambda v: [x for x in v if x is not None and x != ""],
    "coalesce": _coalesce,
    "coalescelist": _coalescelist,
    "lookup": _lookup,
    "element": _element,
    "index": _index,
    "length": len,
    "keys": _keys,
    "values": _values,
    "contains": lambda lst, v: v in lst,
    "sort": lambda lst: sorted(to_str(x) for x in lst),
    "reverse": lambda lst: list(lst)[::-1],
    "slice": _slice,
    "range": _range,
    "one": _one,
    "zipmap": _zipmap,
    "setunion": _setop("union"),
    "setintersection": _setop("intersection"),
    "setsubtract": _setop("subtract"),
    "setproduct": _setproduct,
    "matchkeys": _matchkeys,
    "chunklist": _chunklist,
    "transpose": _transpose,
    "alltrue": _alltrue,
    "anytrue": _anytrue,
    # numbers
    "abs": abs,
    "ceil": lambda v: -int(-v // 1),
    "floor": lambda v: int(v // 1),
    "max": max,
    "min": min,
    "sum": sum,
    "signum": _signum,
    "pow": lambda a, b: a**b,
    "parseint": lambda s, base: int(to_str(s), int(base)),
    # paths
    "basename": _basename,
    "dirname": _dirname,
}

#: Functions whose result keeps an unknown string argument inside it as text.
STRING_FUNCTIONS = frozenset(
    {
        "format", "lower", "upper", "title", "trimspace", "trim", "trimprefix", "trimsuffix",
        "chomp", "indent", "replace", "tostring", "coalesce", "sensitive", "nonsensitive",
        "ephemeralasnull", "provider::aws::arn_build", "provider::aws::trim_iam_role_path",
    }
)  # fmt: skip
#: Functions of lists: an unknown argument is read as a list of one unknown element.
LIST_ARGUMENTS = frozenset(
    {
        "concat", "flatten", "distinct", "compact", "toset", "tolist", "coalescelist", "join",
        "formatlist", "setunion", "sort", "one", "element", "reverse",
    }
)  # fmt: skip
#: Terraform's built-in functions (1.9) that kmsguard leaves symbolic: their value is
#: never part of who may use a key (hashes, time, files, networks, random ids).
SYMBOLIC_FUNCTIONS = frozenset(
    {
        "abspath", "base64gzip", "base64sha256", "base64sha512", "bcrypt", "cidrhost",
        "cidrnetmask", "cidrsubnet", "cidrsubnets", "filebase64", "filebase64sha256",
        "filebase64sha512", "fileexists", "filemd5", "fileset", "filesha1", "filesha256",
        "filesha512", "formatdate", "log", "md5", "pathexpand", "plantimestamp",
        "rsadecrypt", "sha1", "sha256", "sha512", "textdecodebase64", "textencodebase64",
        "timeadd", "timecmp", "timestamp", "type", "urldecode", "uuid", "uuidv5",
        "templatestring",
    }
)  # fmt: skip
#: Evaluated by the evaluator itself (they read files or catch errors).
SPECIAL_FUNCTIONS = frozenset({"file", "templatefile", "try", "can"})


def statements_of(document: Any) -> list[Any]:
    if isinstance(document, Unknown):
        return [document]  # a whole statement known only at deployment
    doc = jsondecode(document) if isinstance(document, str) else document
    if not isinstance(doc, dict):
        raise Unresolved("a source policy document is not an object")
    st = doc.get("Statement", [])
    if isinstance(st, dict):
        st = [st]
    if not isinstance(st, list):
        raise Unresolved("a source policy document has no statement list")
    return [s for s in st if isinstance(s, dict | Unknown)]


def merge_statements(base: list[Any], newer: list[Any]) -> list[Any]:
    """The AWS provider's rule: a statement with the Sid of an earlier one replaces it;
    statements without a Sid (or with a new one) are appended."""
    out = list(base)
    for st in newer:
        if not isinstance(st, dict):
            out.append(st)
            continue
        sid = st.get("Sid")
        idx = next(
            (i for i, s in enumerate(out) if sid and isinstance(s, dict) and s.get("Sid") == sid),
            None,
        )
        if idx is None:
            out.append(st)
        else:
            out[idx] = st
    return out
