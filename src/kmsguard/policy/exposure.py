"""Exposure analysis: can a principal outside the zone of trust be allowed anything?

For every group of actions that the same statements decide, the analysis asks, in order:
1. can an *unknown* attacker (fresh account, no or a fresh organization) be allowed from the
   open internet?  -> `public`
2. ... only from a particular network (VPC endpoint, IP range)?  -> `public`, network-restricted
3. can principals of *named* outside accounts or organizations be allowed?  -> `cross-account`
A cheap concrete probe answers the common "wildcard, no conditions" case; a syntactic check
answers the common "only own-account principals" case; everything else goes to the solver,
whose `unsat` is the proof behind `private`. Every reported witness is re-checked by the
concrete evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from kmsguard.model import (
    Assessment,
    Exposure,
    ExposureKind,
    Severity,
    TrustZone,
    Verdict,
    Witness,
    max_severity,
)

from . import actions as kms_actions
from .document import Effect, Policy, Statement, parse_policy
from .evaluator import Request, action_applies, evaluate, resource_applies
from .keys import NETWORK_KEYS, VPC_KEYS
from .notes import confused_deputies, principal_notes, unknown_key_notes
from .possible import impossible
from .principals import read_aws_principal
from .query import Found, Stage, UndecidedError, policy_constants
from .shortcuts import (
    literal_context,
    named_candidates,
    statement_pinned,
    vpc_conditions,
)
from .witness import as_witness, mentioned_keys, with_caller_id

if TYPE_CHECKING:
    from .solver import PolicyEncoding

_MAX_NAMED = 10
_FRESH_ORGS = ("o-kmsguardprobe", "o-kmsguardprobe2")
_PUBLIC_OPEN = Stage(fresh_identity=True, open_network=True)
_PUBLIC_ANY_NETWORK = Stage(fresh_identity=True, open_network=False)
_CROSS_ACCOUNT = Stage(fresh_identity=False, open_network=False)


@dataclass(frozen=True, slots=True)
class _ClassResult:
    actions: tuple[str, ...]
    kind: ExposureKind
    network_restricted: bool
    principals: tuple[str, ...]
    statements: tuple[str, ...]
    witness: Witness
    network_conditions: tuple[str, ...]


def analyze_policy(
    policy: Policy | str | bytes | Mapping[str, Any],
    zone: TrustZone,
    *,
    key_arn: str | None = None,
    shortcuts: bool = True,
) -> Assessment:
    """Judge a key policy against a zone of trust. Raises `PolicyParseError` if malformed.

    `shortcuts=False` sends every question to the solver (tests compare both ways)."""
    if not isinstance(policy, Policy):
        policy = parse_policy(policy)
    return _analyze_cached(policy, zone, key_arn, shortcuts)


@lru_cache(maxsize=4096)
def _analyze_cached(
    policy: Policy, zone: TrustZone, key_arn: str | None, shortcuts: bool
) -> Assessment:
    return _Analysis(policy, zone, key_arn, shortcuts).run()


class _Analysis:
    def __init__(
        self, policy: Policy, zone: TrustZone, key_arn: str | None, shortcuts: bool
    ) -> None:
        self.shortcuts = shortcuts
        self.policy = policy
        self.zone = zone
        self.key_arn = key_arn
        self.key_account = _arn_account(key_arn) or zone.account
        self.errors: list[str] = list(policy.invalid)
        self.notes: list[str] = list(policy.warnings)
        self.allows = [
            s
            for s in policy.statements
            if s.effect is Effect.ALLOW
            and resource_applies(s, self.key_account, key_arn, for_allow=True)
        ]
        self.denies = [
            s
            for s in policy.statements
            if s.effect is Effect.DENY
            and resource_applies(s, self.key_account, key_arn, for_allow=False)
        ]
        self._encoding: PolicyEncoding | None = None

    @cached_property
    def constants(self) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
        """Accounts, orgs and CIDRs the policy names (only probes and witnesses need them:
        most policies are decided without)."""
        return policy_constants(self.policy)

    @cached_property
    def mentioned_keys(self) -> frozenset[str]:
        return mentioned_keys(self.policy)

    # --- driver ---------------------------------------------------------------------------

    def run(self) -> Assessment:
        self.notes += unknown_key_notes(self.policy)
        self.notes += principal_notes(self.policy)
        exposures: list[Exposure] = []
        outside = [s for s in self.allows if self._may_admit_outsider(s)]
        if outside:
            results: list[_ClassResult] = []
            try:
                for actions, allow, deny in self._action_classes(outside):
                    r = self._judge_class(actions, allow, deny)
                    if r is not None:
                        results.append(r)
            except UndecidedError as exc:
                return Assessment(
                    verdict=Verdict.ERROR,
                    severity=Severity.NONE,
                    errors=(*self.errors, f"could not decide this policy: {exc}"),
                    notes=tuple(self.notes),
                    undecided=True,
                )
            exposures.extend(_merge(results))
        exposures.extend(confused_deputies(self.allows, self.zone))
        if self._encoding is not None and self._encoding.unknown_atoms:
            self.notes.append(
                "some conditions could not be modelled exactly (unknown operator or a policy "
                "variable inside a pattern); they were assumed satisfiable by an attacker"
            )
        return Assessment.of(
            exposures, errors=tuple(self.errors), notes=tuple(dict.fromkeys(self.notes))
        )

    def _may_admit_outsider(self, s: Statement) -> bool:
        """Syntactic pre-check: could this Allow's principal match an outside IAM principal?"""
        if s.not_principal:
            return not any(
                e.kind == "*" or (e.kind == "AWS" and e.value == "*") for e in s.principals
            )
        for e in s.principals:
            if e.kind == "*":
                return True
            if e.kind != "AWS":
                continue
            p = read_aws_principal(e.value)
            if p.kind == "any":
                return True
            if p.account is not None and p.account not in self.zone.accounts:
                return True
        return False

    def _action_classes(
        self, outside: list[Statement]
    ) -> list[tuple[tuple[str, ...], list[int], list[int]]]:
        """Group catalog actions by the statements that decide them."""
        groups: dict[tuple[tuple[int, ...], tuple[int, ...]], list[str]] = {}
        allows = [(s.index, _catalog_actions(s)) for s in outside]
        denies = [(s.index, _catalog_actions(s)) for s in self.denies]
        for action in kms_actions.KMS_ACTIONS:
            allow = tuple(i for i, acts in allows if action in acts)
            if allow:
                deny = tuple(i for i, acts in denies if action in acts)
                groups.setdefault((allow, deny), []).append(action)
        for action in self._unknown_actions(outside):
            allow = tuple(s.index for s in outside if action_applies(s, action))
            deny = tuple(s.index for s in self.denies if action_applies(s, action))
            groups.setdefault((allow, deny), []).append(action)
        return [(tuple(acts), list(a), list(d)) for (a, d), acts in groups.items()]

    def _unknown_actions(self, outside: list[Statement]) -> tuple[str, ...]:
        """`kms:` actions an Allow names that the catalog does not know (newer than it):
        judged like any other action, critical, and noted."""
        found = dict.fromkeys(
            a
            for s in outside
            if not s.not_action
            for a in kms_actions.unknown_kms_actions(s.actions)
        )
        for a in found:
            self.notes.append(
                f"action `{a}` is not in kmsguard's KMS action catalog (botocore's KMS model); "
                "judged as a critical action"
            )
        return tuple(found)

    # --- one action class -----------------------------------------------------------------

    def _judge_class(
        self, actions: tuple[str, ...], allow: list[int], deny: list[int]
    ) -> _ClassResult | None:
        result = self._decide_class(actions, allow, deny)
        if result is None or len(allow) == 1:
            return result
        return replace(result, statements=self._contributors(actions, allow, deny, result))

    def _decide_class(
        self, actions: tuple[str, ...], allow: list[int], deny: list[int]
    ) -> _ClassResult | None:
        if self.shortcuts:
            stmts = [s for s in self.allows if s.index in allow]
            decided, shortcut = self._shortcut(actions, stmts, deny)
            if decided:
                return shortcut
        return self._solve_class(actions, allow, deny)

    def _contributors(
        self, actions: tuple[str, ...], allow: list[int], deny: list[int], result: _ClassResult
    ) -> tuple[str, ...]:
        """Every allowing statement that admits some outsider for this class (not only the
        witness's): fixing an exposure means fixing all of them. A statement is in when a
        probe or the solver finds an outside request it allows that no Deny refuses."""
        found = list(result.statements)
        by_index = {s.index: s for s in self.allows}
        for i in allow:
            s = by_index[i]
            if s.label in found:
                continue
            if self.shortcuts and statement_pinned(s, self.zone):
                continue
            if self._statement_admits_outsider(actions[0], s, deny):
                found.append(s.label)
        order = {s.label: s.index for s in self.policy.statements}
        return tuple(sorted(dict.fromkeys(found), key=lambda label: order.get(label, 0)))

    def _statement_admits_outsider(self, action: str, s: Statement, deny: list[int]) -> bool:
        if self.shortcuts:
            for org in (False, True):
                probe = self._probe(action, extra=literal_context(s), fresh_org=org)
                if probe is not None and s.label in self._allowed(probe).allowing:
                    return True
        return self._solve(self._encoder(), action, [s.index], deny, _CROSS_ACCOUNT, []) is not None

    def _solve_class(
        self, actions: tuple[str, ...], allow: list[int], deny: list[int]
    ) -> _ClassResult | None:
        action = actions[0]  # the catalog lists the most dangerous first
        enc = self._encoder()
        # the weakest question first: its `unsat` proves the class private in one query
        outsider = self._solve(enc, action, allow, deny, _CROSS_ACCOUNT, [])
        if outsider is None:
            return None
        if self._fresh_and_open(outsider.request):
            # already an unknown account outside every named org, on the open network: the
            # public question's answer (the same symmetry argument as its constraints)
            return self._result(actions, ExposureKind.PUBLIC, False, ("*",), outsider.request)
        for stage, restricted in ((_PUBLIC_OPEN, False), (_PUBLIC_ANY_NETWORK, True)):
            public = self._solve(enc, action, allow, deny, stage, [])
            if public is not None:
                result = self._result(
                    actions, ExposureKind.PUBLIC, restricted, ("*",), public.request
                )
                if restricted:
                    result = replace(
                        result, network_conditions=self._network_conditions(allow + deny)
                    )
                return result
        from .solver import describe_found

        named: list[str] = []
        blocks: list[Any] = []
        found: Found | None = outsider
        while found is not None and len(named) < _MAX_NAMED:
            name, block = describe_found(enc, found)
            named.append(name)
            blocks.append(block)
            found = self._solve(enc, action, allow, deny, _CROSS_ACCOUNT, blocks)
        first = outsider.request
        if len(named) == _MAX_NAMED:
            self.notes.append(f"more than {_MAX_NAMED} outside principals; the first are listed")
        return self._result(actions, ExposureKind.CROSS_ACCOUNT, False, tuple(named), first)

    def _shortcut(
        self, actions: tuple[str, ...], stmts: list[Statement], deny: list[int]
    ) -> tuple[bool, _ClassResult | None]:
        """(True, answer) when a sound shortcut decides the class, else (False, None)."""
        if all(statement_pinned(s, self.zone) for s in stmts):
            return True, None  # every allowing statement is false for every outsider
        for s in stmts:
            for org in (False, True):
                probe = self._probe(actions[0], extra=literal_context(s), fresh_org=org)
                if probe is not None:
                    return True, self._result(actions, ExposureKind.PUBLIC, False, ("*",), probe)
        found = self._explicit_outsiders(actions, stmts, deny) or self._vpc_only(actions, stmts)
        return found is not None, found

    def _explicit_outsiders(
        self, actions: tuple[str, ...], stmts: list[Statement], deny: list[int]
    ) -> _ClassResult | None:
        """Every allowing statement admits only named identities (explicit principals or a
        literal identity condition): then nobody unknown can be allowed, and the class is
        cross-account for the names whose probe the evaluator allows — if every probe is
        allowed; otherwise the solver decides."""
        per_statement = [named_candidates(s, self.zone) for s in stmts]
        if any(c is None for c in per_statement):
            return None
        names: dict[str, Request] = {}
        for s, candidates in zip(stmts, per_statement, strict=True):
            for c in candidates or []:
                context = literal_context(s)
                if c.org_path:
                    context["aws:principalorgpaths"] = [c.org_path]
                r = with_caller_id(
                    Request(
                        principal=c.principal or f"arn:aws:iam::{c.account}:role/kmsguard-witness",
                        account=c.account,
                        action=actions[0],
                        principal_type="User"
                        if c.principal and ":user/" in c.principal
                        else "AssumedRole",
                        org_id=c.org_id,
                        context=context,
                    )
                )
                if impossible(r) is not None or not self._allowed(r).allowed:
                    return None
                names.setdefault(c.name, r)
        if not names:
            return None
        first = next(iter(names.values()))
        return self._result(actions, ExposureKind.CROSS_ACCOUNT, False, tuple(names), first)

    def _vpc_only(self, actions: tuple[str, ...], stmts: list[Statement]) -> _ClassResult | None:
        """Every allowing statement needs a VPC endpoint (absent on the open internet): if an
        unknown account is allowed through the endpoint the policy names, the class is
        public but network-restricted."""
        conds = [vpc_conditions(s) for s in stmts]
        if not all(conds):
            return None
        for cs in conds:
            context = {c.key: [c.values[0].replace("*", "x").replace("?", "x")] for c in cs}
            probe = self._probe(actions[0], network=context)
            if probe is not None:
                result = self._result(actions, ExposureKind.PUBLIC, True, ("*",), probe)
                return replace(
                    result,
                    network_conditions=self._network_conditions([s.index for s in stmts]),
                )
        return None

    def _probe(
        self,
        action: str,
        network: dict[str, list[str]] | None = None,
        extra: dict[str, list[str]] | None = None,
        *,
        fresh_org: bool = False,
    ) -> Request | None:
        """The generic outsider: a role in an unknown account, no organization (or, with
        `fresh_org`, an organization of its own), open network."""
        accounts, _orgs, cidrs = self.constants
        taken = accounts | self.zone.accounts
        account = next(
            a
            for a in ("999988887777", "999900001111", "888877776666", "777766665555")
            if a not in taken
        )
        ip = next(
            (
                i
                for i in ("198.51.100.23", "203.0.113.77", "192.0.2.140")
                if not any(_in(i, c) for c in cidrs)
            ),
            None,
        )
        if ip is None:
            return None
        context = {"aws:sourceip": [ip], "aws:userid": [f"AROAKMSGUARDPROBE0000:{account}"]}
        if network:
            context = {"aws:userid": context["aws:userid"], **network}
        context.update(extra or {})
        org = (
            next(o for o in _FRESH_ORGS if o not in _orgs and not self.zone.contains_org(o))
            if fresh_org
            else None
        )
        if org is not None:
            context["aws:principalorgpaths"] = [f"{org}/r-kmsg/ou-kmsg-probe000/"]
        r = Request(
            principal=f"arn:aws:iam::{account}:role/kmsguard-probe",
            account=account,
            action=action,
            principal_type="AssumedRole",
            org_id=org,
            context=context,
        )
        return r if impossible(r) is None and self._allowed(r).allowed else None

    def _fresh_and_open(self, r: Request) -> bool:
        """Does the request come from an identity the policy does not name (account, org,
        unique id) and from the open network (no VPC keys, an IP outside every CIDR)?"""
        accounts, orgs, cidrs = self.constants
        enc = self._encoder()
        if r.account is None or r.account in accounts or r.account in self.zone.accounts:
            return False
        if r.org_id is not None and (r.org_id in orgs or self.zone.contains_org(r.org_id)):
            return False
        if any(p.split("/", 1)[0] == r.org_id for p in self.zone.trusted_org_paths):
            return False
        ctx = {k.lower(): v for k, v in r.context.items()}
        if any(ctx.get(k) for k in VPC_KEYS):
            return False
        if any(_in(ip, c) for ip in ctx.get("aws:sourceip", ()) for c in cidrs):
            return False
        userid = " ".join(ctx.get("aws:userid", ()))
        return not any(tok in userid for tok in enc.userid_tokens)

    def _network_conditions(self, indexes: list[int]) -> tuple[str, ...]:
        stmts = [s for s in self.policy.statements if s.index in indexes]
        return tuple(
            dict.fromkeys(
                f"{s.label}: {c.describe()}"
                for s in stmts
                for c in s.conditions
                if c.key in NETWORK_KEYS
            )
        )

    def _encoder(self) -> PolicyEncoding:
        if self._encoding is None:
            # imported here: most policies are decided by the shortcuts and never need Z3
            from .solver import PolicyEncoding

            self._encoding = PolicyEncoding(
                self.policy, [*self.allows, *self.denies], self.zone, self.key_account
            )
        return self._encoding

    def _solve(
        self,
        enc: PolicyEncoding,
        action: str,
        allow: list[int],
        deny: list[int],
        stage: Stage,
        blocks: list[Any],
    ) -> Found | None:
        def confirm(r: Request) -> bool:
            return bool(self._allowed(r).allowed)

        # one query per allowing statement: the same question (an Or of statements is
        # satisfiable when one of them is), and each query far easier for the solver
        found = None
        for i in allow:
            found = enc.solve(action, [i], deny, stage, blocks, confirm)
            if found is not None:
                break
        if found is not None and not self._allowed(found.request).allowed:
            raise UndecidedError(
                f"internal: the solver's request for {action} is not confirmed by the evaluator"
            )
        return found

    def _allowed(self, r: Request) -> Any:
        """The policy's decision on `r` as AWS would send it: with the `aws:userid` every
        IAM caller carries (a request without it could slip past a Deny that tests it)."""
        return evaluate(
            self.policy, with_caller_id(r), key_account=self.key_account, key_arn=self.key_arn
        )

    def _result(
        self,
        actions: tuple[str, ...],
        kind: ExposureKind,
        restricted: bool,
        principals: tuple[str, ...],
        request: Request,
    ) -> _ClassResult:
        request = with_caller_id(request)
        reason = impossible(request)
        if reason is not None:
            raise UndecidedError(
                f"internal: the witness for {request.action} is not a request AWS can make: "
                + reason
            )
        decision = self._allowed(request)
        if not decision.allowed:
            raise UndecidedError(
                f"internal: the witness for {request.action} is not allowed once it carries "
                "the aws:userid AWS always sends"
            )
        return _ClassResult(
            actions=actions,
            kind=kind,
            network_restricted=restricted,
            principals=principals,
            statements=decision.allowing,
            witness=as_witness(request, self.mentioned_keys),
            network_conditions=(),
        )

# --- helpers ------------------------------------------------------------------------------


def _merge(results: list[_ClassResult]) -> list[Exposure]:
    """One exposure per (kind, network restriction, principals)."""
    grouped: dict[tuple[ExposureKind, bool, tuple[str, ...]], list[_ClassResult]] = {}
    for r in results:
        grouped.setdefault((r.kind, r.network_restricted, r.principals), []).append(r)
    out: list[Exposure] = []
    for (kind, restricted, principals), rs in grouped.items():
        acts = {a for r in rs for a in r.actions}
        actions = tuple(a for a in kms_actions.KMS_ACTIONS if a in acts) + tuple(
            sorted(a for a in acts if not kms_actions.is_known(a))
        )
        severity = max_severity([kms_actions.action_severity(a) for a in actions])
        if kind is ExposureKind.CROSS_ACCOUNT:
            severity = severity.lowered()
        if restricted:
            severity = severity.lowered()
        best = max(rs, key=lambda r: kms_actions.action_severity(r.actions[0]).rank)
        notes: list[str] = []
        if restricted:
            notes.append("allowed only from particular networks; the identity perimeter stays open")
        own_only = [
            a
            for a in actions
            if kms_actions.is_known(a) and a not in kms_actions.CROSS_ACCOUNT_CALLABLE
        ]
        if own_only:
            notes.append(
                "KMS itself refuses these from other accounts, whatever the policy says: "
                + ", ".join(a.removeprefix("kms:") for a in own_only)
            )
        out.append(
            Exposure(
                kind=kind,
                severity=severity,
                actions=actions,
                principals=principals,
                statements=tuple(dict.fromkeys(s for r in rs for s in r.statements)),
                witness=best.witness,
                network_restricted=restricted,
                network_conditions=tuple(
                    dict.fromkeys(c for r in rs for c in r.network_conditions)
                ),
                notes=tuple(notes),
            )
        )
    order = {ExposureKind.PUBLIC: 0, ExposureKind.CROSS_ACCOUNT: 1}
    out.sort(key=lambda e: (order.get(e.kind, 2), -e.severity.rank))
    return out


def _catalog_actions(s: Statement) -> frozenset[str]:
    """The catalog actions a statement's Action (or NotAction) applies to."""
    named = kms_actions.expand(s.actions)
    return kms_actions.CATALOG - named if s.not_action else named


def _arn_account(arn: str | None) -> str | None:
    if not arn:
        return None
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def _in(ip: str, cidr: str) -> bool:
    from .evaluator import ip_in

    return ip_in(ip, cidr)
