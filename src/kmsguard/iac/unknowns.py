"""Values not known before deployment, inside a key policy.

A resolver that meets a value it cannot know (a variable without default, a data source,
an SSM parameter, `each.key` of unknown instances) returns an `Unknown`: a string holding
a token `⟦name⟧`, so it flows through string templates, `format()` and `jsonencode()`
like any text and is found again in the finished policy. `interpret` then decides, per
token, what it can change: nothing (a `Sid`, a `Resource`, a service principal's name,
the resource part of an ARN whose account is known — replaced by a placeholder), or who
is inside the zone of trust (an account, an organization, an action, an effect). The
second kind is judged under each reading that matters (`Reading`), and the report says
what the verdict depends on. Only a policy whose shape is unknown (the whole document,
its statement list, a statement) cannot be judged.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .items import Unresolved

OPEN, CLOSE = "\u27e6", "\u27e7"
TOKEN = re.compile(OPEN + "([^" + OPEN + CLOSE + "]*)" + CLOSE)
PLACEHOLDER = "unknown"
#: The organization `data.aws_organizations_organization` stands for (kept in sync with
#: `terraform.modules.SELF_ORG`): the IaC scan trusts it.
SELF_ORG = "o-0000000000"
#: More deciding unknowns than this are read together (all inside / each one outside).
MAX_PRODUCT = 4


class Unknown(str):
    """A value known only at deployment: its text is the token `⟦name⟧`."""

    __slots__ = ()

    def __new__(cls, name: str) -> Unknown:
        # a colon would split an ARN it stands in: U+2236 looks the same
        clean = name.replace(OPEN, "").replace(CLOSE, "").replace(":", "\u2236")[:120]
        return super().__new__(cls, OPEN + clean + CLOSE)

    @property
    def name(self) -> str:
        return self[1:-1]

    def attr(self, key: Any) -> Unknown:
        """An attribute or element of an unknown value is unknown too."""
        base = self.name.strip("`")
        return Unknown(f"`{base}.{key}`" if isinstance(key, str) else f"`{base}[{key}]`")


#: The old single marker: an unknown part whose reason is recorded elsewhere.
MARKER = Unknown("unknown")


def has_unknown(value: Any) -> bool:
    if isinstance(value, str):
        return OPEN in value
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(has_unknown(k) or has_unknown(v) for k, v in value.items())
    return False


def names_in(text: str) -> list[str]:
    out: list[str] = []
    for m in TOKEN.finditer(text):
        if m.group(1) not in out:
            out.append(m.group(1))
    return out


def display(name: str) -> str:
    name = name.replace("\u2236", ":")
    named = name.startswith("`") or name.startswith("parameter `")
    return name if named else f"a value not known before deployment ({name})"


# -- where an unknown stands -----------------------------------------------------------


class Role(StrEnum):
    ACCOUNT = "account"
    ORG = "organization"
    ORG_PATH = "organization path"
    ACTION = "action"
    EFFECT = "effect"


#: Condition keys that pin who the caller is: an unknown value there decides exposure.
IDENTITY_KEYS = frozenset(
    k.lower()
    for k in (
        "kms:CallerAccount", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths", "aws:userid", "aws:SourceAccount", "aws:SourceArn",
        "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceOrgPaths", "aws:ResourceAccount",
        "aws:ResourceOrgID", "aws:ResourceOrgPaths", "kms:GranteePrincipal",
        "kms:RetiringPrincipal", "aws:username",
    )
)  # fmt: skip
_ORG_KEYS = frozenset(
    k.lower() for k in ("aws:PrincipalOrgID", "aws:SourceOrgID", "aws:ResourceOrgID")
)
_PATH_KEYS = frozenset(
    k.lower() for k in ("aws:PrincipalOrgPaths", "aws:SourceOrgPaths", "aws:ResourceOrgPaths")
)
_ARN_KEYS = frozenset(
    k.lower()
    for k in ("aws:PrincipalArn", "aws:SourceArn", "kms:GranteePrincipal", "kms:RetiringPrincipal")
)


def _arn_name_only(value: str) -> bool:
    """An ARN whose partition, service, region and account are free of unknowns."""
    if not value.startswith("arn:"):
        return False
    parts = value.split(":", 5)
    return len(parts) == 6 and all(OPEN not in p for p in parts[:5])


def placeholders(value: Any) -> Any:
    """`value` with every unknown-value token in its strings (keys too) shown as the
    placeholder."""
    if isinstance(value, str):
        return TOKEN.sub(PLACEHOLDER, value)
    if isinstance(value, list):
        return [placeholders(v) for v in value]
    if isinstance(value, dict):
        return {placeholders(k): placeholders(v) for k, v in value.items()}
    return value


@dataclass(slots=True)
class _Walk:
    """Reads a policy with tokens: harmless ones become placeholders, deciding ones are
    recorded by role (first role met wins) with the form to substitute (`arn` for a
    whole-value ARN condition, `id` else)."""

    roles: dict[str, Role]
    notes: list[str]

    def note_role(self, value: Any, role: Role) -> Any:
        if isinstance(value, list):
            return [self.note_role(v, role) for v in value]
        if isinstance(value, dict):
            return {k: self.note_role(v, role) for k, v in value.items()}
        if isinstance(value, str):
            for name in names_in(value):
                self.roles.setdefault(name, role)
        return value

    def identity(self, value: Any, *, arn_form: bool = False) -> Any:
        """A principal or identity-condition value: the account field of an ARN (or the
        whole value) decides; the name part of an ARN with a known account does not."""
        if isinstance(value, list):
            return [self.identity(v, arn_form=arn_form) for v in value]
        if not isinstance(value, str) or OPEN not in value:
            return value
        if _arn_name_only(value):
            return TOKEN.sub(PLACEHOLDER, value)
        whole = TOKEN.fullmatch(value)
        if whole is not None and arn_form:
            value = f"arn:aws:iam::{value}:root"
        return self.note_role(value, Role.ACCOUNT)

    def principal(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return self.identity(value)
        out: dict[str, Any] = {}
        for kind, ids in value.items():
            kind_text = TOKEN.sub("AWS", kind) if isinstance(kind, str) else kind
            if kind_text == "Service":
                out[kind_text] = placeholders(ids)
            else:
                out[kind_text] = self.identity(ids)
        return out

    def condition(self, value: Any, allow: bool) -> Any:
        """Condition values on identity keys decide; others do not. An unknown operator
        or key: the condition is dropped from an Allow (the widest reading)."""
        if not isinstance(value, dict):
            raise Unresolved("a statement's `Condition` is not an object")
        out: dict[str, Any] = {}
        for op, block in value.items():
            if OPEN in op or not isinstance(block, dict):
                if OPEN in json.dumps(op) or has_unknown(block):
                    self._dropped(op, allow)
                    continue
                out[op] = block
                continue
            kept: dict[str, Any] = {}
            for key, vals in block.items():
                if OPEN in key:
                    self._dropped(key, allow)
                    continue
                k = key.lower()
                if k in _ORG_KEYS:
                    kept[key] = self.note_role(vals, Role.ORG)
                elif k in _PATH_KEYS:
                    kept[key] = self.note_role(vals, Role.ORG_PATH)
                elif k in IDENTITY_KEYS:
                    kept[key] = self.identity(vals, arn_form=k in _ARN_KEYS)
                else:
                    kept[key] = placeholders(vals)
            if kept:
                out[op] = kept
        return out

    def _dropped(self, what: str, allow: bool) -> None:
        names = ", ".join(display(n) for n in names_in(json.dumps(what, ensure_ascii=False)))
        if not allow:
            raise _DropStatement(names or "a value not known before deployment")
        self.notes.append(
            f"a condition set by {names or 'a value not known before deployment'} was "
            "left out (the widest reading)"
        )

    def statement(self, st: Any) -> Any:
        if isinstance(st, str) and TOKEN.fullmatch(st):
            raise _UnknownStatement(st[1:-1])
        if not isinstance(st, dict):
            return st
        effect = st.get("Effect")
        if isinstance(effect, str) and OPEN in effect:
            self.note_role(effect, Role.EFFECT)
        allow = not (isinstance(effect, str) and effect == "Deny")
        out: dict[str, Any] = {}
        for key, value in st.items():
            match key:
                case "Sid" | "Resource" | "NotResource":
                    # a resource naming another key would not apply: "*" is the safe reading
                    if key != "Sid" and has_unknown(value):
                        value = "*"
                    out[key] = placeholders(value)
                case "Principal" | "NotPrincipal":
                    out[key] = self.principal(value)
                case "Condition":
                    try:
                        out[key] = self.condition(value, allow)
                    except _DropStatement as exc:
                        self.notes.append(
                            f"a Deny statement whose condition is set by {exc.args[0]} was "
                            "left out (the widest reading)"
                        )
                        return None
                case "Action" | "NotAction":
                    out[key] = self.note_role(value, Role.ACTION)
                case "Effect":
                    out[key] = value
                case _:
                    out[key] = placeholders(value)
        return out


class _DropStatement(Exception):  # noqa: N818 - control flow inside the walk
    pass


class _UnknownStatement(Exception):  # noqa: N818 - control flow inside the walk
    pass


# -- readings --------------------------------------------------------------------------

#: Outside values are distinct per unknown so a witness can be named after it.
_OUTSIDE_ACCOUNT = 999_900_000_000
_OUTSIDE_ORG = "o-zz{:08d}"


@dataclass(frozen=True, slots=True)
class Reading:
    """One way to read the deciding unknowns: for each, inside the zone of trust or not."""

    label: str
    policy: Any
    inside: tuple[tuple[str, bool], ...]  # (name, inside?) per deciding unknown
    #: outside account id -> the unknown it stands for (to name it in the report)
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Interpretation:
    readings: tuple[Reading, ...]
    harmless: tuple[str, ...]  # unknowns read as placeholders
    roles: tuple[tuple[str, Role], ...]
    notes: tuple[str, ...] = ()
    #: statements whose whole value is unknown (left out of every reading)
    unknown_statements: tuple[str, ...] = ()


def _substitute(value: Any, table: dict[str, str]) -> Any:
    if isinstance(value, str):
        return TOKEN.sub(lambda m: table.get(m.group(1), PLACEHOLDER), value)
    if isinstance(value, list):
        return [_substitute(v, table) for v in value]
    if isinstance(value, dict):
        return {_substitute(k, table): _substitute(v, table) for k, v in value.items()}
    return value


def _value_for(role: Role, inside: bool, index: int, account: str) -> str:
    match role:
        case Role.ACCOUNT:
            return account if inside else str(_OUTSIDE_ACCOUNT + index)
        case Role.ORG:
            return SELF_ORG if inside else _OUTSIDE_ORG.format(index)
        case Role.ORG_PATH:
            return f"{SELF_ORG}/*" if inside else _OUTSIDE_ORG.format(index) + "/*"
        case Role.ACTION:
            return "DescribeKey" if inside else "*"
        case Role.EFFECT:
            return "Deny" if inside else "Allow"


def _fix_actions(value: Any) -> Any:
    """`kms:⟦x⟧` read as `kms:*` / `kms:DescribeKey`; a whole unknown action likewise."""
    if isinstance(value, list):
        return [_fix_actions(v) for v in value]
    if isinstance(value, str) and value in ("*", "DescribeKey"):
        return "kms:" + value
    return value


def interpret(policy: Any, account: str) -> Interpretation:
    """The readings of a policy with tokens. Raises Unresolved when its shape (the whole
    document, or its statement list) is not known."""
    text = policy if isinstance(policy, str) else json.dumps(policy, ensure_ascii=False)
    doc = policy
    if isinstance(policy, str):
        whole = TOKEN.fullmatch(policy.strip())
        if whole is not None:
            raise Unresolved(f"the whole policy comes from {display(whole.group(1))}")
        try:
            doc = json.loads(policy)
        except json.JSONDecodeError:
            listed = ", ".join(display(n) for n in names_in(text))
            raise Unresolved(f"the policy text is built from {listed}") from None
    if isinstance(doc, str) and TOKEN.fullmatch(doc):
        raise Unresolved(f"the whole policy comes from {display(doc[1:-1])}")
    if not isinstance(doc, dict):
        raise Unresolved("the policy is not a JSON object")
    walk = _Walk({}, [])
    out: dict[str, Any] = {}
    unknown_statements: list[str] = []
    for key, value in doc.items():
        if key != "Statement":
            out[key] = placeholders(value)
            continue
        if isinstance(value, str) and TOKEN.fullmatch(value):
            raise Unresolved(f"the statement list comes from {display(value[1:-1])}")
        statements = value if isinstance(value, list) else [value]
        kept: list[Any] = []
        for st in statements:
            try:
                settled = walk.statement(st)
            except _UnknownStatement as exc:
                unknown_statements.append(str(exc.args[0]))
                continue
            if settled is not None:
                kept.append(settled)
        out[key] = kept
    harmless = [n for n in names_in(text) if n not in walk.roles]
    names = list(walk.roles)
    if len(names) <= MAX_PRODUCT:
        choices = list(itertools.product((True, False), repeat=len(names)))
    else:  # all inside, all outside, and each one outside alone
        choices = [tuple(True for _ in names), tuple(False for _ in names)]
        choices += [tuple(j != i for j in range(len(names))) for i in range(len(names))]
    readings: list[Reading] = []
    for combo in choices:
        table: dict[str, str] = {}
        aliases: list[tuple[str, str]] = []
        for i, (name, inside) in enumerate(zip(names, combo, strict=True)):
            table[name] = _value_for(walk.roles[name], inside, i, account)
            if not inside and walk.roles[name] in (Role.ACCOUNT, Role.ORG):
                aliases.append((table[name], name))
        doc_i = _substitute(out, table)
        for st in doc_i.get("Statement", []):
            if isinstance(st, dict):
                for k in ("Action", "NotAction"):
                    if k in st:
                        st[k] = _fix_actions(st[k])
        label = ", ".join(
            _reading_label(name, walk.roles[name], inside)
            for name, inside in zip(names, combo, strict=True)
        )
        readings.append(
            Reading(label, doc_i, tuple(zip(names, combo, strict=True)), tuple(aliases))
        )
    return Interpretation(
        tuple(readings),
        tuple(harmless),
        tuple((n, walk.roles[n]) for n in names),
        tuple(walk.notes),
        tuple(unknown_statements),
    )


def _reading_label(name: str, role: Role, inside: bool) -> str:
    return f"{display(name)} {_condition(role, inside)}"


def _condition(role: Role, inside: bool) -> str:
    match role:
        case Role.ACCOUNT:
            return "is one of your accounts" if inside else "is another account"
        case Role.ORG:
            return "is your organization" if inside else "is another organization"
        case Role.ORG_PATH:
            return "is inside your organization" if inside else "is outside your organization"
        case Role.ACTION:
            return "is a read-only action" if inside else "is any action"
        case Role.EFFECT:
            return "is Deny" if inside else "is Allow"


def dependency(
    roles: tuple[tuple[str, Role], ...], verdicts: list[tuple[Reading, str]]
) -> str | None:
    """One sentence: what the verdict depends on, or None when it does not."""
    distinct = {v for _, v in verdicts}
    names = [n for n, _ in roles]
    if len(distinct) <= 1:
        verdict = next(iter(distinct), "")
        if not names or verdict in ("error", "unresolved"):
            return None  # the error names its cause; the unknowns did not decide it
        what = ", ".join(display(n) for n in names)
        verb = "is" if len(names) == 1 else "are"
        return f"{verdict} whatever {what} {verb} (known only at deployment)"
    rank = {"public": 5, "cross-account": 4, "error": 3, "unresolved": 2, "private": 1}
    best_reading, best = min(verdicts, key=lambda p: rank.get(p[1], 0))
    worst = max((v for _, v in verdicts), key=lambda v: rank.get(v, 0))
    role_of = dict(roles)
    matter = [
        (n, inside)
        for n, inside in best_reading.inside
        if any(
            v != best
            for r, v in verdicts
            if dict(r.inside)[n] != inside
            and all(dict(r.inside)[m] == i for m, i in best_reading.inside if m != n)
        )
    ] or list(best_reading.inside)
    cond = " and ".join(f"{display(n)} {_condition(role_of[n], i)}" for n, i in matter)
    return f"{best} if {cond}, {worst} otherwise"
