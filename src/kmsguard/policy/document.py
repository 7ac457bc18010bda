"""Parse and normalize key policies of every valid JSON shape into immutable statements.

Accepted: a policy object; its JSON text; the `{"Policy": "<json>"}` output of
`aws kms get-key-policy`; `Statement` as one object or a list; string-or-list values;
numeric and boolean condition values. Anything else raises `PolicyParseError` naming the
JSON path of the problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from kmsguard import strictjson
from kmsguard.errors import PolicyParseError


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Comparator(StrEnum):
    """How one request value is compared with one policy value."""

    EQ = "eq"
    EQ_CI = "eq_ci"
    LIKE = "like"
    ARN = "arn"
    NUM_EQ = "num_eq"
    NUM_LT = "num_lt"
    NUM_LE = "num_le"
    NUM_GT = "num_gt"
    NUM_GE = "num_ge"
    DATE_EQ = "date_eq"
    DATE_LT = "date_lt"
    DATE_LE = "date_le"
    DATE_GT = "date_gt"
    DATE_GE = "date_ge"
    BOOL = "bool"
    BINARY = "binary"
    IP = "ip"
    NULL = "null"
    UNKNOWN = "unknown"


# base operator (lower-case) -> (comparator, negated)
OPERATORS: dict[str, tuple[Comparator, bool]] = {
    "stringequals": (Comparator.EQ, False),
    "stringnotequals": (Comparator.EQ, True),
    "stringequalsignorecase": (Comparator.EQ_CI, False),
    "stringnotequalsignorecase": (Comparator.EQ_CI, True),
    "stringlike": (Comparator.LIKE, False),
    "stringnotlike": (Comparator.LIKE, True),
    "arnequals": (Comparator.ARN, False),
    "arnlike": (Comparator.ARN, False),
    "arnnotequals": (Comparator.ARN, True),
    "arnnotlike": (Comparator.ARN, True),
    "numericequals": (Comparator.NUM_EQ, False),
    "numericnotequals": (Comparator.NUM_EQ, True),
    "numericlessthan": (Comparator.NUM_LT, False),
    "numericlessthanequals": (Comparator.NUM_LE, False),
    "numericgreaterthan": (Comparator.NUM_GT, False),
    "numericgreaterthanequals": (Comparator.NUM_GE, False),
    "dateequals": (Comparator.DATE_EQ, False),
    "datenotequals": (Comparator.DATE_EQ, True),
    "datelessthan": (Comparator.DATE_LT, False),
    "datelessthanequals": (Comparator.DATE_LE, False),
    "dategreaterthan": (Comparator.DATE_GT, False),
    "dategreaterthanequals": (Comparator.DATE_GE, False),
    "bool": (Comparator.BOOL, False),
    "binaryequals": (Comparator.BINARY, False),
    "ipaddress": (Comparator.IP, False),
    "notipaddress": (Comparator.IP, True),
    "null": (Comparator.NULL, False),
}


class Qualifier(StrEnum):
    NONE = ""
    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


@dataclass(frozen=True, slots=True)
class PrincipalEntry:
    """One principal value: kind is `*`, `AWS`, `Service`, `Federated` or `CanonicalUser`."""

    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key) pair; its values are ORed (for negated operators: none may match)."""

    operator: str  # as written
    comparator: Comparator
    negated: bool
    qualifier: Qualifier
    if_exists: bool
    key: str  # lower-cased: condition key names are case-insensitive
    key_as_written: str
    values: tuple[str, ...]

    def describe(self) -> str:
        vals = ", ".join(self.values)
        return f"{self.operator} {self.key_as_written} {vals}"


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    effect: Effect
    principals: tuple[PrincipalEntry, ...]
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return self.sid if self.sid else f"#{self.index}"


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]
    version: str | None = None
    #: problems that do not stop evaluation (unknown operators, a missing `Resource`)
    warnings: tuple[str, ...] = ()
    #: what IAM would reject but the policy is still judged (conservatively): a wildcard
    #: in a principal ARN. The assessment reports these as policy errors.
    invalid: tuple[str, ...] = ()


_EFFECTS = {e.value: e for e in Effect}  # exact spelling: IAM rejects `allow`

_PRINCIPAL_KINDS = {
    "aws": "AWS",
    "service": "Service",
    "federated": "Federated",
    "canonicaluser": "CanonicalUser",
}
_QUALIFIERS = {"foranyvalue": Qualifier.FOR_ANY_VALUE, "forallvalues": Qualifier.FOR_ALL_VALUES}
_STATEMENT_KEYS = {
    "sid",
    "effect",
    "principal",
    "notprincipal",
    "action",
    "notaction",
    "resource",
    "notresource",
    "condition",
}


def parse_policy(raw: str | bytes | Mapping[str, Any] | Any) -> Policy:
    """Parse a key policy (text, bytes or decoded JSON) into a `Policy`."""
    return _parse_document(load_document(raw))


def load_document(raw: str | bytes | Mapping[str, Any] | Any) -> Mapping[str, Any]:
    """The policy's JSON object: decoded, and unwrapped from `get-key-policy` output."""
    doc: Any = raw
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PolicyParseError(f"not UTF-8 text ({exc.reason})") from None
    if isinstance(raw, str):
        doc = _loads(raw, "$")
    if isinstance(doc, Mapping) and "Statement" not in doc and isinstance(doc.get("Policy"), str):
        # `aws kms get-key-policy` output: the policy is a JSON string inside
        doc = _loads(doc["Policy"], "$.Policy")
    if not isinstance(doc, Mapping):
        raise PolicyParseError(
            f"expected a policy object, found {_kind(doc)}",
            hint="a key policy is a JSON object with a `Statement` element",
        )
    return doc


def _loads(text: str, path: str) -> Any:
    if not text.strip():
        raise PolicyParseError("empty document", path=path)
    try:
        # NaN, Infinity, 1e999, huge integers and duplicate keys: errors, as in AWS
        return strictjson.loads(text)
    except strictjson.StrictJsonError as exc:
        raise PolicyParseError(f"not a valid policy: {exc.msg}", path=path) from None
    except json.JSONDecodeError as exc:
        raise PolicyParseError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", path=path
        ) from None
    except RecursionError:
        raise PolicyParseError("JSON nested too deeply", path=path) from None


def _number(value: float, path: str) -> str:
    """A number as the policy's text; NaN, infinities and huge integers (from YAML or HCL,
    which decode them) are errors, as they are in AWS."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PolicyParseError(f"`{value}` is not a number a policy can hold", path=path)
        return repr(value)
    if value.bit_length() > strictjson.MAX_NUMBER_DIGITS * 10 // 3:
        raise PolicyParseError(
            f"a number of about {int(value.bit_length() * 0.30103)} digits "
            f"(at most {strictjson.MAX_NUMBER_DIGITS})",
            path=path,
        )
    return str(value)


def _kind(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "a list"
        case Mapping():
            return "an object"
    return type(value).__name__


def _parse_document(doc: Mapping[str, Any]) -> Policy:
    version = doc.get("Version")
    if version is not None and not isinstance(version, str):
        raise PolicyParseError(
            f"`Version` must be a string, found {_kind(version)}", path="$.Version"
        )
    if "Statement" not in doc:
        raise PolicyParseError(
            "missing `Statement`", hint="a key policy needs at least one statement"
        )
    raw_statements = doc["Statement"]
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise PolicyParseError(
            f"`Statement` must be an object or a list, found {_kind(raw_statements)}",
            path="$.Statement",
        )
    if not raw_statements:
        raise PolicyParseError("`Statement` is empty", path="$.Statement")
    warnings: list[str] = []
    invalid: list[str] = []
    statements = tuple(
        _parse_statement(s, i, f"$.Statement[{i}]", warnings, invalid)
        for i, s in enumerate(raw_statements)
    )
    if version != "2012-10-17":
        statements = _literal_variables(statements, warnings)
    return Policy(
        statements=statements, version=version, warnings=tuple(warnings), invalid=tuple(invalid)
    )


def _literal_variables(
    statements: tuple[Statement, ...], warnings: list[str]
) -> tuple[Statement, ...]:
    """Before policy language version 2012-10-17 (and without `Version`, which defaults to
    2008-10-17) `${...}` is plain text, not a variable (IAM User Guide, "Policy variables")."""
    if not any("${" in v for s in statements for c in s.conditions for v in c.values):
        return statements
    warnings.append(
        "$.Version: not `2012-10-17`, so `${...}` in condition values is literal text, "
        "not a policy variable"
    )
    return tuple(
        replace(
            s,
            conditions=tuple(
                replace(c, values=tuple(v.replace("${", "${$}{") for v in c.values))
                for c in s.conditions
            ),
        )
        for s in statements
    )


def element(stmt: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    """A statement element as (name as written, value); names are matched
    case-insensitively, as IAM does (the first match, in the order written)."""
    name = name.lower()
    for k, v in stmt.items():
        if isinstance(k, str) and k.lower() == name:
            return k, v
    return None


def _parse_statement(
    stmt: Any, index: int, path: str, warnings: list[str], invalid: list[str]
) -> Statement:
    if not isinstance(stmt, Mapping):
        raise PolicyParseError(f"a statement must be an object, found {_kind(stmt)}", path=path)
    # each element by its lower-cased name, the first as written (IAM matches names
    # case-insensitively); one pass over the statement instead of one per element
    elements: dict[str, tuple[str, Any]] = {}
    for k, v in stmt.items():
        low = k.lower() if isinstance(k, str) else None
        if low is None or low not in _STATEMENT_KEYS:
            raise PolicyParseError(f"unknown statement element `{k}`", path=f"{path}.{k}")
        elements.setdefault(low, (k, v))
    sid_f = elements.get("sid")
    sid = None
    if sid_f is not None:
        if not isinstance(sid_f[1], str | int):
            raise PolicyParseError("`Sid` must be a string", path=f"{path}.Sid")
        sid = sid_f[1] if isinstance(sid_f[1], str) else _number(sid_f[1], f"{path}.Sid")
    effect_f = elements.get("effect")
    if effect_f is None:
        raise PolicyParseError("missing `Effect`", path=path)
    effect_raw = effect_f[1]
    effect = _EFFECTS.get(effect_raw) if isinstance(effect_raw, str) else None
    if effect is None:
        raise PolicyParseError(
            f"`Effect` must be `Allow` or `Deny`, found `{effect_raw}`", path=f"{path}.Effect"
        )

    pf = _exactly_one(elements, "Principal", path, "a key policy statement")
    # a wildcard principal ARN is read as `*` where it grants (Allow Principal, Deny
    # NotPrincipal) and as its pattern where it restricts (evaluator.restricts)
    not_principal = pf[0].lower() == "notprincipal"
    widest = (effect is Effect.ALLOW) != not_principal
    principals = _parse_principal(pf[1], f"{path}.{pf[0]}", invalid, widest=widest)

    af = _exactly_one(elements, "Action", path, "a statement")
    actions = _strings(af[1], f"{path}.{af[0]}")

    resource_f, not_resource_f = elements.get("resource"), elements.get("notresource")
    if resource_f is not None and not_resource_f is not None:
        raise PolicyParseError(
            "a statement cannot have both `Resource` and `NotResource`", path=path
        )
    rf = resource_f or not_resource_f
    if rf is None:
        resources: tuple[str, ...] = ("*",)
        warnings.append(f"{path}: no `Resource`; read as `*` (this key)")
    else:
        resources = _strings(rf[1], f"{path}.{rf[0]}")

    cond_f = elements.get("condition")
    conditions = (
        () if cond_f is None else _parse_conditions(cond_f[1], f"{path}.Condition", warnings)
    )
    return Statement(
        index=index,
        sid=sid,
        effect=effect,
        principals=principals,
        not_principal=not_principal,
        actions=actions,
        not_action=af[0].lower() == "notaction",
        resources=resources,
        not_resource=resource_f is None and not_resource_f is not None,
        conditions=conditions,
    )


def _exactly_one(
    elements: Mapping[str, tuple[str, Any]], name: str, path: str, what: str
) -> tuple[str, Any]:
    """The element `name` or `Not<name>` of a statement (as written, with its value); a
    statement must have exactly one of the two."""
    low = name.lower()
    found, not_found = elements.get(low), elements.get("not" + low)
    if (found is None) == (not_found is None):
        raise PolicyParseError(f"{what} needs exactly one of `{name}` and `Not{name}`", path=path)
    one = found or not_found
    assert one is not None
    return one


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if type(value) is list and value and set(map(type, value)) == {str}:
        return tuple(value)  # the common case, checked at C speed
    if isinstance(value, list) and value:
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise PolicyParseError(f"expected a string, found {_kind(v)}", path=f"{path}[{i}]")
        return tuple(value)
    if isinstance(value, list):
        raise PolicyParseError("empty list", path=path)
    raise PolicyParseError(
        f"expected a string or a list of strings, found {_kind(value)}", path=path
    )


_WILDCARD_ARN = re.compile(r"^arn:[^:]*:(iam|sts)::[^:]*[*?]")


def _parse_principal(
    value: Any, path: str, invalid: list[str], *, widest: bool = True
) -> tuple[PrincipalEntry, ...]:
    if value == "*":
        return (PrincipalEntry("*", "*"),)
    if not isinstance(value, Mapping):
        raise PolicyParseError(
            f'`Principal` must be `*` or an object such as {{"AWS": ...}}, found {_kind(value)}',
            path=path,
        )
    if not value:
        raise PolicyParseError("empty principal object", path=path)
    entries: list[PrincipalEntry] = []
    for k, v in value.items():
        kind = _PRINCIPAL_KINDS.get(str(k).lower())
        if kind is None:
            raise PolicyParseError(f"unknown principal type `{k}`", path=f"{path}.{k}")
        for s in _strings(v, f"{path}.{k}"):
            s = s.strip()
            if kind == "AWS" and s != "*" and ("*" in s or "?" in s):
                reading = (
                    "judged as `*` (any principal)"
                    if widest
                    else "judged as the pattern it writes (it can restrict no one else)"
                )
                invalid.append(
                    f"{path}.{k}: principal `{s}` contains a wildcard, which IAM rejects; {reading}"
                )
            entries.append(PrincipalEntry(kind, s))
    return tuple(entries)


def _condition_value(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value, path)
    if isinstance(value, str):
        return value
    raise PolicyParseError(
        f"a condition value must be a string, number or boolean, found {_kind(value)}", path=path
    )


def _parse_conditions(value: Any, path: str, warnings: list[str]) -> tuple[Condition, ...]:
    if not isinstance(value, Mapping):
        raise PolicyParseError(f"`Condition` must be an object, found {_kind(value)}", path=path)
    out: list[Condition] = []
    for op, block in value.items():
        op_path = f"{path}.{op}"
        if not isinstance(block, Mapping):
            raise PolicyParseError(
                f"a condition operator takes an object of keys, found {_kind(block)}", path=op_path
            )
        comparator, negated, qualifier, if_exists = _parse_operator(str(op))
        if comparator is Comparator.UNKNOWN:
            warnings.append(
                f"{op_path}: unknown condition operator `{op}`; assumed satisfiable by an attacker"
            )
        for key, vals in block.items():
            key_path = f"{op_path}.{key}"
            raw_vals = vals if isinstance(vals, list) else [vals]
            if not raw_vals:
                raise PolicyParseError("empty list of condition values", path=key_path)
            values = tuple(_condition_value(v, f"{key_path}[{i}]") for i, v in enumerate(raw_vals))
            out.append(
                Condition(
                    operator=str(op),
                    comparator=comparator,
                    negated=negated,
                    qualifier=qualifier,
                    if_exists=if_exists,
                    key=str(key).lower(),
                    key_as_written=str(key),
                    values=values,
                )
            )
    return tuple(out)


def _parse_operator(op: str) -> tuple[Comparator, bool, Qualifier, bool]:
    name = op
    qualifier = Qualifier.NONE
    if ":" in name:
        prefix, _, rest = name.partition(":")
        q = _QUALIFIERS.get(prefix.lower())
        if q is None:
            return Comparator.UNKNOWN, False, Qualifier.NONE, False
        qualifier, name = q, rest
    lower = name.lower()
    if_exists = lower.endswith("ifexists") and lower != "ifexists"
    if if_exists:
        lower = lower[: -len("ifexists")]
    found = OPERATORS.get(lower)
    if found is None or (if_exists and found[0] is Comparator.NULL):
        return Comparator.UNKNOWN, False, qualifier, if_exists
    return found[0], found[1], qualifier, if_exists
