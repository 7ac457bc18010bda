"""Terraform type constraints applied to variable values: `optional(T, default)` object
attributes filled in, and primitive conversions (`123` given for a `string` is "123")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lark import Token, Tree

from kmsguard.iac.terraform.hcl import Node, trees
from kmsguard.iac.unknowns import Unknown

Evaluate = Callable[[Node], Any]


def _call(node: Node) -> tuple[str, list[Tree[Token]]] | None:
    """`name(args...)` of a type expression, or `(name, [])` for a bare keyword."""
    while isinstance(node, Tree) and node.data == "expr_term" and len(trees(node)) == 1:
        inner = trees(node)[0]
        if inner.data == "function_call":
            node = inner
            break
        if inner.data == "identifier":
            return str(inner.children[0]), []
        node = inner
    if not isinstance(node, Tree):
        return None
    if node.data == "identifier":
        return str(node.children[0]), []
    if node.data != "function_call":
        return None
    parts = trees(node)
    name = next(str(p.children[0]) for p in parts if p.data == "identifier")
    args = next((p for p in parts if p.data == "arguments"), None)
    return name, trees(args) if args is not None else []


def _object_fields(node: Node) -> list[tuple[str, Node]] | None:
    while isinstance(node, Tree) and node.data == "expr_term" and len(trees(node)) == 1:
        node = trees(node)[0]
    if not isinstance(node, Tree) or node.data != "object":
        return None
    fields: list[tuple[str, Node]] = []
    for elem in trees(node):
        key_node, value_node = trees(elem)
        key = key_node
        while isinstance(key, Tree) and trees(key):
            key = trees(key)[0]
        name = str(key.children[0]) if isinstance(key, Tree) else str(key)
        fields.append((name.strip('"'), value_node))
    return fields


def convert(value: Any, type_node: Node, evaluate: Evaluate, depth: int = 0) -> Any:
    """`value` converted to the type `type_node` describes; unknown shapes pass as given."""
    if value is None or isinstance(value, Unknown) or depth > 32:
        return value
    call = _call(type_node)
    if call is None:
        return value
    name, args = call
    match name:
        case "string":
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int | float):
                return str(value)
            return value
        case "optional" if args:
            return convert(value, args[0], evaluate, depth + 1)
        case "list" | "set" if args and isinstance(value, list):
            return [convert(v, args[0], evaluate, depth + 1) for v in value]
        case "map" if args and isinstance(value, dict):
            return {k: convert(v, args[0], evaluate, depth + 1) for k, v in value.items()}
        case "object" if args and isinstance(value, dict):
            fields = _object_fields(args[0])
            if fields is None:
                return value
            out = dict(value)
            for field, ftype in fields:
                fcall = _call(ftype)
                if field not in out:
                    if fcall is not None and fcall[0] == "optional":
                        out[field] = evaluate(fcall[1][1]) if len(fcall[1]) > 1 else None
                    continue
                out[field] = convert(out[field], ftype, evaluate, depth + 1)
            return out
    return value
