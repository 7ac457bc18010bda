"""Terraform JSON syntax (`*.tf.json`, e.g. CDK for Terraform output), turned into the
equivalent HCL text so the one evaluator reads both."""

from __future__ import annotations

import json
import re
from typing import Any

from kmsguard.iac.items import Unresolved

from .hcl import split_template

#: Keys that are nested blocks (not attributes) inside the blocks kmsguard evaluates.
JSON_BLOCK_KEYS = frozenset(
    {"statement", "principals", "not_principals", "condition", "dynamic", "content",
     "constraints", "lifecycle"}
)  # fmt: skip
_TOP_LEVEL_LABELS = {"resource": 2, "data": 2, "variable": 1, "module": 1, "output": 1}


def _hcl_string(value: str) -> str:
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{out}"'


def _hcl_template(value: str) -> str:
    """A JSON-syntax string is a template: its `${...}` parts stay expressions."""
    if "${" not in value:
        return _hcl_string(value)
    try:
        pieces = list(split_template(value))
    except Unresolved:
        return _hcl_string(value)
    out = []
    for is_expr, piece in pieces:
        if is_expr:
            out.append("${" + piece + "}")
        else:
            out.append(_hcl_string(piece)[1:-1].replace("${", "$${").replace("%{", "%%{"))
    return '"' + "".join(out) + '"'


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return _hcl_template(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{_hcl_string(str(k))} = {_hcl_value(v)}" for k, v in value.items()]
        return "{" + ", ".join(items) + "}"
    raise ValueError(f"unexpected JSON value {value!r}")


def _hcl_body(body: Any, out: list[str], indent: str) -> None:
    if not isinstance(body, dict):
        raise ValueError("a block body is not an object")
    for key, value in body.items():
        if key == "//":
            continue  # JSON-syntax comments
        if key in JSON_BLOCK_KEYS:
            entries = value if isinstance(value, list) else [value]
            for entry in entries:
                if key == "dynamic" and isinstance(entry, dict):
                    for label, inner in entry.items():
                        for one in inner if isinstance(inner, list) else [inner]:
                            out.append(f"{indent}dynamic {_hcl_string(label)} {{")
                            _hcl_body(one, out, indent + "  ")
                            out.append(f"{indent}}}")
                    continue
                out.append(f"{indent}{key} {{")
                _hcl_body(entry, out, indent + "  ")
                out.append(f"{indent}}}")
        else:
            out.append(f"{indent}{key} = {_hcl_value(value)}")


def json_to_hcl(doc: Any) -> str:
    """The HCL text equivalent of a Terraform JSON document, for the same evaluator.
    Raises ValueError when the document does not have Terraform's JSON shape."""
    if not isinstance(doc, dict):
        raise ValueError("the document is not an object")
    out: list[str] = []
    for kind, content in doc.items():
        if kind == "locals":
            for entry in content if isinstance(content, list) else [content]:
                out.append("locals {")
                _hcl_body(entry, out, "  ")
                out.append("}")
            continue
        labels = _TOP_LEVEL_LABELS.get(kind)
        if labels is None or not isinstance(content, dict):
            continue  # terraform, provider, ...: nothing a key policy reads
        if labels == 2:
            for rtype, named in content.items():
                if not isinstance(named, dict):
                    raise ValueError(f"`{kind}.{rtype}` is not an object")
                for name, body in named.items():
                    for one in body if isinstance(body, list) else [body]:
                        out.append(f"{kind} {_hcl_string(rtype)} {_hcl_string(name)} {{")
                        _hcl_body(one, out, "  ")
                        out.append("}")
        else:
            for name, body in content.items():
                for one in body if isinstance(body, list) else [body]:
                    out.append(f"{kind} {_hcl_string(name)} {{")
                    _hcl_body(one, out, "  ")
                    out.append("}")
    return "\n".join(out) + "\n"


def json_resource_line(text: str, rtype: str, name: str) -> int | None:
    """The line of `"name": {` under `"rtype"` in a Terraform JSON file."""
    at = text.find(f'"{rtype}"')
    if at < 0:
        return None
    m = re.compile(r'"' + re.escape(name) + r'"\s*:').search(text, at)
    return text.count("\n", 0, m.start()) + 1 if m else None
