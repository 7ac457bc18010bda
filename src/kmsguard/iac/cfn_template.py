"""Reading CloudFormation templates: YAML with short-form intrinsic tags (`!Ref`, `!Sub`,
...) or JSON, with the line of every mapping kept and alias bombs refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from kmsguard import strictjson

#: Expanded size (nodes, counting every alias expansion) above which a document is refused.
MAX_EXPANDED_NODES = 1_000_000


class CfnParseError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class LineDict(dict[str, Any]):
    """A mapping that remembers where it and each of its keys stand in the file."""

    __slots__ = ("end_line", "key_lines", "line")

    def __init__(self) -> None:
        super().__init__()
        self.line: int | None = None
        self.end_line: int | None = None
        self.key_lines: dict[str, int] = {}


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CfnLoader(_BaseLoader):  # type: ignore[valid-type,misc] # chosen at import: C or Python
    """SafeLoader plus CloudFormation's short-form tags, keeping line numbers."""


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    data = LineDict()
    data.line = node.start_mark.line + 1
    end = node.end_mark
    data.end_line = end.line + (1 if end.column > 0 else 0)
    yield data
    data.update({str(k): v for k, v in loader.construct_mapping(node).items()})
    data.key_lines = {
        str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)
    }


def _intrinsic(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {name: value}

    return construct


CfnLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
for _tag in (
    "Sub", "GetAtt", "Join", "If", "Select", "Split", "Equals", "Not", "And", "Or",
    "FindInMap", "ImportValue", "Base64", "GetAZs", "Cidr", "Transform", "ToJsonString",
    "Length",
):  # fmt: skip
    CfnLoader.add_constructor(f"!{_tag}", _intrinsic(f"Fn::{_tag}"))
CfnLoader.add_constructor("!Ref", _intrinsic("Ref"))


def _unknown_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    """Other tags (`!Rain::Embed`, macros): kept as an intrinsic nobody can resolve."""
    return _intrinsic(f"Fn::{suffix}")(loader, node)


CfnLoader.add_multi_constructor("!", _unknown_tag)
CfnLoader.add_constructor("!Condition", _intrinsic("Condition"))


def _guard_size(doc: Any) -> None:
    """Refuse alias bombs (billion laughs) and recursive aliases: the loader shares
    aliased nodes, so size is counted once per object and memoized."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(v: Any) -> int:
        if not isinstance(v, dict | list):
            return 1
        key = id(v)
        if key in memo:
            return memo[key]
        if key in active:
            raise CfnParseError("recursive YAML alias")
        active.add(key)
        children = v.values() if isinstance(v, dict) else v
        total = 1
        for c in children:
            total += size(c)
            if total > MAX_EXPANDED_NODES:
                raise CfnParseError(
                    f"document expands to more than {MAX_EXPANDED_NODES:,} nodes (YAML alias bomb?)"
                )
        active.discard(key)
        memo[key] = total
        return total

    size(doc)


def strip_trailing_commas(text: str) -> str:
    """The text without commas that stand right before `}` or `]` (outside strings), which
    CloudFormation's JSON reader accepts; lines are kept, so errors keep their line."""
    out: list[str] = []
    in_string = escaped = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif c == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j >= n or text[j] not in "}]":
                out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def load_template(text: str, *, is_json: bool) -> Any:
    """Parse a template; raises CfnParseError with the line of the problem. JSON with
    trailing commas is read as CloudFormation reads it (it accepts them)."""
    if is_json:
        try:
            return strictjson.loads(text)
        except strictjson.StrictJsonError as exc:
            raise CfnParseError(f"unusable JSON: {exc.msg}", exc.lineno) from None
        except json.JSONDecodeError as exc:
            try:
                return json.loads(strip_trailing_commas(text))
            except (json.JSONDecodeError, RecursionError):
                pass
            raise CfnParseError(f"malformed JSON: {exc.msg}", exc.lineno) from None
        except RecursionError:
            raise CfnParseError("JSON nested too deeply") from None
    try:
        doc = yaml.load(text, Loader=CfnLoader)  # CfnLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise CfnParseError(f"malformed YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise CfnParseError(f"malformed YAML: {exc}") from None
    except ValueError as exc:  # e.g. an integer of 4300+ digits
        raise CfnParseError(f"unusable YAML: {str(exc)[:200]}") from None
    except RecursionError:
        raise CfnParseError("YAML nested too deeply") from None
    _guard_size(doc)
    return doc
