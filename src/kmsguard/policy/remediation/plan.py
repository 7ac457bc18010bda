"""The remediation planner: from a key policy, its observed callers and the zone of trust to
a least-privilege replacement policy (pure: no I/O; `verify` judges the result)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kmsguard.errors import InputError
from kmsguard.model import ExposureKind, TrustZone
from kmsguard.policy.document import Policy, element, parse_policy
from kmsguard.policy.exposure import analyze_policy

from .evidence import ObservedCaller
from .plan_support import (
    account_of_principal,
    allows,
    caller_trusted,
    parsed,
    policy_document,
    principal_values,
    replay_requests,
    statement_label,
    statements_of,
    without_account_roots,
)


class Strategy(StrEnum):
    PRINCIPALS = "principals"  # name the observed callers, keep only the actions they used
    ACCOUNT = "account"  # keep the wildcard, add kms:CallerAccount
    ORG = "org"  # keep the wildcard, add aws:PrincipalOrgID


#: Action families granted as one pattern when a caller used a member that returns
#: plaintext (as AWS's default key policy does); only when the old statement allowed
#: every member, so grouping never widens what the statement granted.
ACTION_GROUPS: dict[str, tuple[str, ...]] = {
    "kms:GenerateDataKey*": (
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:GenerateDataKeyWithoutPlaintext",
    ),
    "kms:ReEncrypt*": ("kms:ReEncryptFrom", "kms:ReEncryptTo"),
}
_GROUP_TRIGGERS: dict[str, frozenset[str]] = {
    "kms:GenerateDataKey*": frozenset({"kms:GenerateDataKey", "kms:GenerateDataKeyPair"}),
    "kms:ReEncrypt*": frozenset({"kms:ReEncryptFrom", "kms:ReEncryptTo"}),
}


@dataclass(frozen=True, slots=True)
class StatementChange:
    """What happened to one exposing statement of the old policy."""

    statement: str  # its label in the old policy (Sid or #index)
    change: str  # "replaced" | "conditioned" | "removed"
    replacements: tuple[str, ...]  # labels of the statements that now stand for it
    principals: tuple[str, ...]  # callers now named explicitly
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "statement": self.statement,
            "change": self.change,
            "replacements": list(self.replacements),
            "principals": list(self.principals),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class LostAccess:
    """An observed caller outside the zone of trust that the new policy no longer allows."""

    principal: str
    account: str
    actions: tuple[str, ...]
    calls: int
    statements: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "account": self.account,
            "actions": list(self.actions),
            "calls": self.calls,
            "statements": list(self.statements),
        }


@dataclass(frozen=True, slots=True)
class RemediationPlan:
    strategy: Strategy
    new_policy: str  # the complete replacement document, pretty-printed
    changes: tuple[StatementChange, ...]
    would_lose_access: tuple[LostAccess, ...]
    kept_external: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> dict[str, object]:
        return {
            "strategy": str(self.strategy),
            "changes": [c.to_json() for c in self.changes],
            "would_lose_access": [x.to_json() for x in self.would_lose_access],
            "kept_external": list(self.kept_external),
            "notes": list(self.notes),
        }


def pretty(doc: Mapping[str, Any]) -> str:
    """The one text form kmsguard writes policies in (and diffs them in)."""
    return json.dumps(doc, indent=2, ensure_ascii=False)


def plan_remediation(
    old_policy: str | bytes | Mapping[str, Any],
    callers: Iterable[ObservedCaller],
    zone: TrustZone,
    *,
    key_account: str,
    strategy: Strategy = Strategy.PRINCIPALS,
    keep_external: frozenset[str] = frozenset(),
    org_id: str | None = None,
) -> RemediationPlan:
    """A replacement for every statement that exposes the key outside the zone of trust;
    everything else (admin statements, Deny guards, Sids, order) is kept as written."""
    if strategy is Strategy.ORG and not org_id:
        raise InputError("the `org` strategy needs the organization id (the key owner's)")
    old = policy_document(old_policy)
    callers = tuple(callers)
    assessment = analyze_policy(old, zone)
    stmts = statements_of(old)
    exposing = [i for i, s in enumerate(stmts) if _is_allow(s) and _exposes(old, stmts, i, zone)]
    notes: list[str] = []
    if not exposing:
        notes.append(f"the policy is {assessment.verdict}: nothing to fix")
        return RemediationPlan(strategy, pretty(old), (), (), (), tuple(notes))

    # 1. the skeleton: exposing statements removed, narrowed, or conditioned
    slots: list[list[dict[str, Any]]] = [[s] for s in stmts]
    rewritten = {
        i: _rewrite(stmts[i], callers, zone, key_account, strategy, keep_external, org_id)
        for i in exposing
    }
    for i, r in rewritten.items():
        slots[i] = r.kept
    skeleton = _document(old, [s for slot in slots for s in slot])

    # 2. which trusted (caller, action) pairs each exposing statement must still serve
    needs, lost = _needs(old, exposing, skeleton, callers, zone, key_account, keep_external)

    # 3. explicit statements for what the skeleton no longer covers
    used_sids = {statement_label(s, i) for i, s in enumerate(stmts)}
    changes: list[StatementChange] = []
    for i, r in rewritten.items():
        extra = _explicit_statements(
            stmts[i], needs[i], key_account, used_sids, reuse_sid=not r.kept
        )
        slots[i] = [*r.kept, *extra]
        changes.append(_change(stmts[i], i, r, extra, needs[i]))
    new_doc = _document(old, [s for slot in slots for s in slot])

    would_lose = tuple(
        LostAccess(
            principal=c.principal,
            account=c.account,
            actions=tuple(sorted(acts)),
            calls=sum(c.calls(a) for a in acts),
            statements=tuple(sorted(labels)),
        )
        for c, (acts, labels) in sorted(lost.items(), key=lambda kv: kv[0].principal)
    )
    if not statements_of(new_doc):
        notes.append(
            "no statement would remain: nobody could use or manage the key; keep an admin "
            "statement, or use the `account` strategy"
        )
    observed_accounts = {c.account for c in callers}
    for account in sorted(keep_external - observed_accounts):
        notes.append(f"kept outside account {account}: no call from that account was observed")
    return RemediationPlan(
        strategy=strategy,
        new_policy=pretty(new_doc),
        changes=tuple(changes),
        would_lose_access=would_lose,
        kept_external=tuple(sorted(keep_external)),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class _Rewrite:
    """What is left of one exposing statement before callers are named."""

    kind: str  # "conditioned" | "narrowed" | "replaced"
    kept: list[dict[str, Any]]  # zero or one statement
    detail: str


def _rewrite(
    stmt: dict[str, Any],
    callers: tuple[ObservedCaller, ...],
    zone: TrustZone,
    key_account: str,
    strategy: Strategy,
    keep_external: frozenset[str],
    org_id: str | None,
) -> _Rewrite:
    if strategy is not Strategy.PRINCIPALS and _has_wildcard_principal(stmt):
        if strategy is Strategy.ACCOUNT:
            accounts = {key_account} | set(keep_external)
            accounts |= {
                c.account
                for c in callers
                if not c.is_service
                and caller_trusted(c, zone, keep_external)
                and _matches_bare(stmt, c, c.action_names, key_account)
            }
            key, values = "kms:CallerAccount", sorted(accounts)
        else:
            assert org_id is not None
            key, values = "aws:PrincipalOrgID", [org_id]
        new = _with_condition(stmt, "StringEquals", key, values)
        if new is None:
            return _Rewrite("conditioned", [], f"removed: its conditions contradict {key}")
        return _Rewrite("conditioned", [new], f"kept the wildcard, added {key}")
    remnant = _remnant(stmt, zone, keep_external)
    if remnant is not None:
        return _Rewrite(
            "narrowed",
            [remnant],
            "kept the principals it names inside the zone of trust, removed the others",
        )
    return _Rewrite("replaced", [], "")


def _needs(
    old: dict[str, Any],
    exposing: list[int],
    skeleton: dict[str, Any],
    callers: tuple[ObservedCaller, ...],
    zone: TrustZone,
    key_account: str,
    keep_external: frozenset[str],
) -> tuple[
    dict[int, list[tuple[ObservedCaller, str]]],
    dict[ObservedCaller, tuple[set[str], set[str]]],
]:
    """Per exposing statement, the trusted (caller, action) pairs the skeleton no longer
    covers; and the outside callers that lose access (their actions, the statements)."""
    stmts = statements_of(old)
    covered = _Coverage(old, skeleton, key_account)
    needs: dict[int, list[tuple[ObservedCaller, str]]] = {i: [] for i in exposing}
    lost: dict[ObservedCaller, tuple[set[str], set[str]]] = {}
    for caller in callers:
        trusted = caller_trusted(caller, zone, keep_external)
        for action in caller.action_names:
            serving = [
                i for i in exposing if _matches_bare(stmts[i], caller, (action,), key_account)
            ]
            if not serving or covered.by_skeleton(caller, action, trusted):
                continue
            if trusted:
                # the statements whose conditions admit the caller; else (the evidence lacks
                # the context to tell) the first whose elements do
                with_conditions = [
                    i for i in serving if _matches(stmts[i], caller, (action,), key_account)
                ]
                for i in with_conditions or serving[:1]:
                    needs[i].append((caller, action))
            else:
                acts, labels = lost.setdefault(caller, (set(), set()))
                acts.add(action)
                labels.update(statement_label(stmts[i], i) for i in serving)
    return needs, lost


def _change(
    stmt: dict[str, Any],
    index: int,
    rewrite: _Rewrite,
    extra: list[dict[str, Any]],
    needs: list[tuple[ObservedCaller, str]],
) -> StatementChange:
    label = statement_label(stmt, index)
    kept_labels = tuple(str(x["Sid"]) for x in [*rewrite.kept, *extra] if "Sid" in x)
    named = tuple(sorted({c.principal for c, _ in needs}))
    if rewrite.kind == "replaced":
        if not extra:
            return StatementChange(label, "removed", (), (), "no trusted caller relied on it")
        return StatementChange(
            label,
            "replaced",
            kept_labels,
            named,
            f"wildcard replaced by {len(named)} observed caller(s) and the actions they used",
        )
    detail = rewrite.detail
    if extra:
        detail += f"; named {len(named)} observed caller(s) and the actions they used"
    return StatementChange(label, rewrite.kind, kept_labels, named, detail)


# --------------------------------------------------------------------------- helpers


def _is_allow(stmt: Mapping[str, Any]) -> bool:
    effect = element(stmt, "Effect")
    return effect is not None and effect[1] == "Allow"


def _exposes(old: Mapping[str, Any], stmts: list[dict[str, Any]], i: int, zone: TrustZone) -> bool:
    """Does this Allow statement, under every Deny guard of the policy, expose the key?

    Allows add up, so judging each one with the Denies finds every exposing statement (an
    assessment of the whole policy needs to name only one per exposed action)."""
    denies = [s for s in stmts if not _is_allow(s)]
    alone = analyze_policy(_document(old, [stmts[i], *denies]), zone)
    return any(e.kind in _EXPOSING for e in alone.exposures)


_EXPOSING = (ExposureKind.PUBLIC, ExposureKind.CROSS_ACCOUNT)


def _remnant(
    stmt: Mapping[str, Any], zone: TrustZone, keep_external: frozenset[str]
) -> dict[str, Any] | None:
    """The statement restricted to the principals it names explicitly inside the zone of
    trust (or in a kept account), and its service principals; None if nothing is left."""
    if element(stmt, "NotPrincipal") is not None:
        return None
    found = element(stmt, "Principal")
    if found is None or not isinstance(found[1], Mapping):
        return None
    kept: dict[str, Any] = {}
    for kind, vals in found[1].items():
        items = [vals] if isinstance(vals, str) else [str(v) for v in vals or []]
        if str(kind).lower() == "aws":
            items = [
                v
                for v in items
                if "*" not in v
                and "?" not in v
                and (account := account_of_principal(v)) is not None
                and (zone.contains_account(account) or account in keep_external)
            ]
        if items:
            kept[kind] = _one_or_list(items)
    if not kept:
        return None
    out = copy.deepcopy(dict(stmt))
    out[found[0]] = kept
    return out


def _has_wildcard_principal(stmt: Mapping[str, Any]) -> bool:
    if element(stmt, "NotPrincipal") is not None:
        return True
    return any(k == "*" or v == "*" or "*" in v for k, v in principal_values(stmt))


def _document(old: Mapping[str, Any], statements: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in old.items():
        out[k] = statements if k.lower() == "statement" else copy.deepcopy(v)
    return out


def _without_conditions(stmt: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stmt.items() if k.lower() != "condition"}


def _single(stmt: Mapping[str, Any]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": [dict(stmt)]})


def _matches_bare(
    stmt: Mapping[str, Any], caller: ObservedCaller, actions: Iterable[str], key_account: str
) -> bool:
    """The statement's principal, action and resource elements admit the caller (its
    conditions aside: the evidence may lack context keys such as encryption context)."""
    return _matches(_without_conditions(stmt), caller, actions, key_account)


def _matches(
    stmt: Mapping[str, Any], caller: ObservedCaller, actions: Iterable[str], key_account: str
) -> bool:
    """The statement on its own allows some observed request of the caller."""
    policy = _single(stmt)
    return any(allows(policy, r, key_account) for a in actions for r in replay_requests(caller, a))


class _Coverage:
    """Does the skeleton still allow a (caller, action) on the same footing as before?"""

    def __init__(self, old: Mapping[str, Any], skeleton: Mapping[str, Any], key_account: str):
        self.key_account = key_account
        self.old = parse_policy(old)
        self.old_alone = parsed(without_account_roots(old))
        has_statements = bool(statements_of(skeleton))
        self.skel = parse_policy(skeleton) if has_statements else None
        self.skel_alone = parsed(without_account_roots(skeleton)) if has_statements else None
        bare = _document(
            skeleton,
            [_without_conditions(s) if _is_allow(s) else s for s in statements_of(skeleton)],
        )
        self.skel_bare = parse_policy(bare) if has_statements else None
        self.skel_bare_alone = parsed(without_account_roots(bare)) if has_statements else None

    def by_skeleton(self, caller: ObservedCaller, action: str, trusted: bool) -> bool:
        k = self.key_account
        requests = replay_requests(caller, action)
        seen = [r for r in requests if allows(self.old, r, k)]
        if not seen:
            # the evidence cannot satisfy the old conditions: judge by the elements alone
            pol = self.skel_bare if caller.is_root or not trusted else self.skel_bare_alone
            return all(allows(pol, r, k) for r in requests)
        for r in seen:
            if not trusted:
                if not allows(self.skel, r, k):
                    return False
                continue
            old_alone = caller.is_root or allows(self.old_alone, r, k)
            pol = self.skel_alone if old_alone and not caller.is_root else self.skel
            if not allows(pol, r, k):
                return False
        return True


def _with_condition(
    stmt: Mapping[str, Any], operator: str, key: str, values: list[str]
) -> dict[str, Any] | None:
    """The statement with one more ANDed condition; None when it can no longer match
    (the same operator and key already pinned to values with nothing in common)."""
    out = copy.deepcopy(dict(stmt))
    found = element(out, "Condition")
    cond_key = found[0] if found else "Condition"
    cond: dict[str, Any] = dict(found[1]) if found and isinstance(found[1], Mapping) else {}
    op_key = next((k for k in cond if k.lower() == operator.lower()), operator)
    block: dict[str, Any] = dict(cond.get(op_key, {}))
    existing_key = next((k for k in block if k.lower() == key.lower()), None)
    if existing_key is None:
        block[key] = values[0] if len(values) == 1 else values
    else:
        old_vals = block[existing_key]
        old_list = [old_vals] if isinstance(old_vals, str) else list(old_vals)
        both = [v for v in old_list if v in values]
        if not both:
            return None
        block[existing_key] = both[0] if len(both) == 1 else both
    cond[op_key] = block
    out[cond_key] = cond
    return out


def _group_actions(
    stmt: Mapping[str, Any], caller: ObservedCaller, used: set[str], key_account: str
) -> set[str]:
    grouped = set(used)
    for pattern, members in ACTION_GROUPS.items():
        if not used & _GROUP_TRIGGERS[pattern]:
            continue
        if all(_matches_bare(stmt, caller, (m,), key_account) for m in members):
            grouped -= set(members)
            grouped.add(pattern)
    return grouped


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _explicit_statements(
    stmt: Mapping[str, Any],
    needs: list[tuple[ObservedCaller, str]],
    key_account: str,
    used_sids: set[str],
    *,
    reuse_sid: bool,
) -> list[dict[str, Any]]:
    """Statements naming each caller with the actions it used, under the old statement's
    resource and conditions (service principals also pinned to their source account)."""
    per_caller: dict[ObservedCaller, set[str]] = {}
    for caller, action in needs:
        per_caller.setdefault(caller, set()).add(action)
    aws_groups: dict[tuple[str, ...], set[str]] = {}
    service_groups: dict[tuple[str, ...], tuple[set[str], set[str]]] = {}
    for caller, used in per_caller.items():
        actions = tuple(sorted(_group_actions(stmt, caller, used, key_account)))
        if caller.is_service:
            services, accounts = service_groups.setdefault(actions, (set(), set()))
            services.add(caller.principal)
            accounts.add(caller.account)
        else:
            aws_groups.setdefault(actions, set()).add(caller.principal)

    sid = element(stmt, "Sid")
    base_sid = str(sid[1]) if sid and sid[1] not in (None, "") else None
    out: list[dict[str, Any]] = []

    def build(principal: dict[str, Any], actions: tuple[str, ...]) -> dict[str, Any]:
        new: dict[str, Any] = {}
        if base_sid is not None:
            name = base_sid if reuse_sid and not out else _fresh_sid(base_sid, used_sids)
            used_sids.add(name)
            new["Sid"] = name
        new["Effect"] = "Allow"
        new["Principal"] = principal
        new["Action"] = _one_or_list(list(actions))
        for resource_element in ("Resource", "NotResource"):
            found = element(stmt, resource_element)
            if found is not None:
                new[found[0]] = copy.deepcopy(found[1])
        if element(stmt, "Resource") is None and element(stmt, "NotResource") is None:
            new["Resource"] = "*"
        found = element(stmt, "Condition")
        if found is not None:
            new[found[0]] = copy.deepcopy(found[1])
        return new

    for actions, principals in sorted(aws_groups.items()):
        out.append(build({"AWS": _one_or_list(sorted(principals))}, actions))
    for actions, (services, accounts) in sorted(service_groups.items()):
        s = build({"Service": _one_or_list(sorted(services))}, actions)
        pinned = _with_condition(s, "StringEquals", "aws:SourceAccount", sorted(accounts))
        if pinned is not None:
            out.append(pinned)
    return out


def _fresh_sid(base: str, used: set[str]) -> str:
    n = 2
    while f"{base}{n}" in used:
        n += 1
    return f"{base}{n}"
