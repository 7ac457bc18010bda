"""Complete search for attacker requests, with the Z3 SMT solver.

A key policy is encoded as a formula over everything an attacker may choose: their account,
principal ARN and type, organization (or none) and OU path, unique id, whether they come
through a VPC endpoint and from which IP, and every other condition key the policy mentions
(encryption context, tags, via-service, ...). Keys the attacker cannot choose are fixed or
absent as SPEC-exposure.md rule 8 says. `unsat` is a proof that no such request exists;
`sat` yields a model that becomes a concrete `Request`, which the concrete evaluator must
confirm before it is reported.

The encoding is built in layers: `symbols.RequestSymbols` (the request as Z3 terms),
`atoms.ConditionAtoms` (conditions), and `PolicyEncoding` here (principals, statements, the
queries and reading their models). Each policy gets its own Z3 context, so threads may
analyse different policies at once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import z3

from kmsguard.model import TrustZone

from .atoms import ConditionAtoms
from .document import Effect, Policy, PrincipalEntry, Statement
from .evaluator import Request, restricts
from .possible import impossible
from .principals import read_aws_principal
from .query import Found, Stage, UndecidedError, prettier
from .smt import glob_re, ip_text, model_real, model_str, network128
from .values import literal_tokens

__all__ = ["RLIMIT", "PolicyEncoding", "UndecidedError", "describe_found"]

#: Z3's deterministic resource budget per query (its "rlimit" units, not time): the same
#: input gets the same answer on any machine under any load. About 10 s on a slow laptop
#: core; a realistic query needs well under 1 % of it.
RLIMIT = 15_000_000

_TYPES = ("Account", "User", "AssumedRole", "FederatedUser")
_PRINCIPAL_ARN = re.compile(r"^arn:([^:]+):(iam|sts)::(\d{12}):(.+)$")


class PolicyEncoding(ConditionAtoms):
    """The policy's statements as Z3 formulas over one symbolic attacker request."""

    def __init__(
        self,
        policy: Policy,
        statements: Iterable[Statement],
        zone: TrustZone,
        key_account: str,
    ) -> None:
        super().__init__(policy, zone, key_account)
        self._answers: dict[tuple[tuple[int, ...], tuple[int, ...], Stage], Found | None] = {}
        self.statement_exprs: dict[int, Any] = {s.index: self._statement(s) for s in statements}
        if "aws:userid" in self.slots:
            # its shape by principal type (AIDA... for users, AROA...:<session> for role
            # sessions, <account>:<name> for federated users)
            self.keyed["aws:userid"] = [
                z3.Implies(self.t == 1, z3.PrefixOf(self._s("AIDA"), self.U)),
                z3.Implies(
                    self.t == 2,
                    z3.And(z3.PrefixOf(self._s("AROA"), self.U), z3.Contains(self.U, self._s(":"))),
                ),
                z3.Implies(self.t == 3, self.U == z3.Concat(self.A, self._s(":"), self.N)),
            ]
        if "aws:principalorgid" in self.slots or "aws:principalorgpaths" in self.slots:
            # an org id is `o-` and 10 to 32 lower-case letters or digits (so it has no "/",
            # its OU path starts with "<id>/", and _atom relies on the lower case)
            for key in ("aws:principalorgid", "aws:principalorgpaths"):
                self.keyed[key] = [self._real_org()]

    # --- statements -----------------------------------------------------------------------

    def _statement(self, s: Statement) -> Any:
        self._keys_now = set()
        principal = self._principal(s)
        conds = []
        for c in s.conditions:
            # an Allow's positive atoms and a Deny's negated ones only ever need to be true
            # for the attacker: there, existential helper variables are exact
            self._positive = (s.effect is Effect.ALLOW) != c.negated
            conds.append(self._condition(c))
        self.statement_keys[s.index] = frozenset(self._keys_now)
        return z3.And(principal, *conds)

    def _principal(self, s: Statement) -> Any:
        narrow = restricts(s)
        if s.not_principal:
            return z3.Not(
                z3.Or(*[self._listed(e, narrow) for e in s.principals], z3.BoolVal(False, self.ctx))
            )
        return z3.Or(*[self._entry(e, narrow) for e in s.principals], z3.BoolVal(False, self.ctx))

    def _entry(self, e: PrincipalEntry, narrow: bool) -> Any:
        return self._names(e, narrow, listing=False)

    def _listed(self, e: PrincipalEntry, narrow: bool) -> Any:
        return self._names(e, narrow, listing=True)

    def _names(self, e: PrincipalEntry, narrow: bool, *, listing: bool) -> Any:
        """The evaluator's `_names`, symbolically (see `restricts` for `narrow`)."""
        if e.kind == "*":
            return z3.BoolVal(True, self.ctx)
        if e.kind != "AWS":
            return z3.BoolVal(False, self.ctx)  # service / federated principals are not IAM callers
        if narrow and e.value != "*" and ("*" in e.value or "?" in e.value):
            by_segment = self._principal_arn_atom(e.value, glob=True, variables=False)
            if by_segment is not None:
                return by_segment
            return z3.InRe(self.P, glob_re(literal_tokens(e.value), arn=True, ctx=self.ctx))
        p = read_aws_principal(e.value)
        if p.kind == "any":
            return z3.BoolVal(True, self.ctx)
        if p.kind == "account":
            same = z3.StringVal(p.account or "", self.ctx) == self.A
            return z3.And(self.t == 0, same) if listing else same
        if p.kind == "arn":
            return self._arn_is_caller(p.arn or "", p.account or "", p.session_of, narrow)
        return z3.BoolVal(False, self.ctx)

    def _arn_equals(self, arn: str) -> Any:
        """The caller's ARN is exactly `arn`, component by component (much faster for the
        solver than an equation between concatenations)."""
        m = _PRINCIPAL_ARN.match(arn)
        if m is None:
            return z3.StringVal(arn, self.ctx) == self.P
        partition, service, account, resource = m.groups()
        if partition != self.partition:
            return z3.BoolVal(False, self.ctx)
        same_account = self.A == z3.StringVal(account, self.ctx)
        if service == "iam":
            return z3.And(self.t != 3, same_account, self.R == z3.StringVal(resource, self.ctx))
        if resource.startswith("federated-user/"):
            name = resource.removeprefix("federated-user/")
            return z3.And(self.t == 3, same_account, self.N == z3.StringVal(name, self.ctx))
        return z3.BoolVal(False, self.ctx)  # the caller's ARN is never an sts session ARN

    def _arn_is_caller(self, arn: str, account: str, session_of: str | None, narrow: bool) -> Any:
        exact = self._arn_equals(arn)
        if session_of is None or narrow:
            # where it restricts, a session ARN names one session: the attacker uses another
            return exact
        # a session ARN names a session of role `session_of` in `account`
        return z3.Or(
            exact,
            z3.And(
                self.t == 2,
                z3.StringVal(account, self.ctx) == self.A,
                z3.SuffixOf(z3.StringVal("/" + session_of, self.ctx), self.R),
            ),
        )

    # --- queries --------------------------------------------------------------------------

    def stage_constraints(self, stage: Stage) -> list[Any]:
        S = self._s
        out: list[Any] = [S(a) != self.A for a in sorted(self.zone.accounts)]
        out += [z3.Implies(self.has_org, S(o) != self.O) for o in sorted(self.zone.trusted_orgs)]
        out += [
            z3.Implies(self.has_org, z3.Not(self._trusted_path(p)))
            for p in sorted(self.zone.trusted_org_paths)
        ]
        if stage.fresh_identity:
            out += [S(a) != self.A for a in sorted(self.mentioned_accounts)]
            out += [z3.Implies(self.has_org, S(o) != self.O) for o in sorted(self.mentioned_orgs)]
            out += [z3.Not(z3.PrefixOf(S(tok), self.U)) for tok in self.userid_tokens]
        if stage.open_network:
            out.append(z3.Not(self.via_vpce))
            for key, i in list(self.ip_views):
                if key == "aws:sourceip":
                    ip = self.ip_views[(key, i)]
                    out += [
                        z3.Not(self._ip_atom(ip, c))
                        for c in self.cidrs
                        if (n := network128(c)) is not None and n[1] > 96
                    ]
        return out

    def solve(
        self,
        action: str,
        allow: list[int],
        deny: list[int],
        stage: Stage,
        extra: list[Any],
        confirm: Callable[[Request], bool],
    ) -> Found | None:
        """One request that the statements allow, or None when there is none (a proof).

        Account ids are 12 digits; asking Z3 for that up front costs ~100 ms a query, so the
        model's account is first repaired digit by digit and re-checked concretely (`confirm`),
        and only if that fails is the digit constraint handed to the solver."""
        # the statements' formulas do not depend on the action: an action class decided by
        # the same statements asks the same question, so its answer is reused
        memo = (tuple(allow), tuple(deny), stage) if not extra else None
        if memo is not None and memo in self._answers:
            known = self._answers[memo]
            if known is None:
                return None
            again = dataclasses.replace(known.request, action=action)
            if confirm(again):
                return dataclasses.replace(known, request=again)
        found = self._solve(action, allow, deny, stage, extra, confirm)
        if memo is not None:
            self._answers[memo] = found
        return found

    def _solve(
        self,
        action: str,
        allow: list[int],
        deny: list[int],
        stage: Stage,
        extra: list[Any],
        confirm: Callable[[Request], bool],
    ) -> Found | None:
        solver = z3.Solver(ctx=self.ctx)
        solver.set("rlimit", RLIMIT)
        solver.add(*self.base)
        keys = {k for i in (*allow, *deny) for k in self.statement_keys.get(i, ())}
        for key in sorted(keys):
            solver.add(*self.keyed.get(key, []))
        solver.add(z3.Or(*[self.statement_exprs[i] for i in allow]))
        for i in deny:
            solver.add(z3.Not(self.statement_exprs[i]))
        solver.add(*self.stage_constraints(stage))
        solver.add(*extra)
        result = solver.check()
        if result == z3.sat:
            found = self._found(solver.model(), action, keys)
            if (found.request.account or "").isdigit():
                candidate: Found | None = prettier(found, confirm)
            else:
                candidate = next(
                    (
                        prettier(r, confirm)
                        for digit in "9078"
                        if (r := self._repair(found, digit, stage)) is not None
                        and confirm(r.request)
                    ),
                    None,
                )
            if candidate is not None and impossible(candidate.request) is None:
                return candidate
            # hand the solver what makes a request real (slower) and ask again
            solver.add(*self._realistic())
            result = solver.check()
            if result == z3.sat:
                found = prettier(self._found(solver.model(), action, keys), confirm)
                reason = impossible(found.request)
                if reason is None:
                    return found
                raise UndecidedError(f"the solver's request is not one AWS can make: {reason}")
        reason = solver.reason_unknown() if result == z3.unknown else ""
        if result == z3.unsat:
            return None
        raise UndecidedError(f"solver returned {result} ({reason})")

    def _realistic(self) -> list[Any]:
        """Account ids of 12 digits and IAM's name characters in principal names."""
        S = self._s
        chars = z3.Union(
            z3.Range("a", "z", self.ctx),
            z3.Range("A", "Z", self.ctx),
            z3.Range("0", "9", self.ctx),
            *[z3.Re(ch, self.ctx) for ch in "+=,.@_-"],
        )
        # no `//`, by construction (a Contains constraint is far slower)
        named = z3.Concat(z3.Star(z3.Concat(z3.Plus(chars), z3.Re("/", self.ctx))), z3.Plus(chars))
        return [
            self._real_org(),
            z3.InRe(self.A, z3.Loop(z3.Range("0", "9", self.ctx), 12, 12)),
            z3.Implies(self.t == 1, z3.InRe(self.R, z3.Concat(z3.Re("user/", self.ctx), named))),
            z3.Implies(self.t == 2, z3.InRe(self.R, z3.Concat(z3.Re("role/", self.ctx), named))),
            z3.Implies(self.t == 3, z3.InRe(self.N, z3.Plus(chars))),
            z3.Implies(self.t == 2, z3.PrefixOf(S("AROA"), self.U)),
        ]

    def _repair(self, found: Found, digit: str, stage: Stage) -> Found | None:
        r = found.request
        old = r.account or ""
        new = "".join(ch if ch.isdigit() else digit for ch in old)
        if (
            len(new) != 12
            or new in self.zone.accounts
            or (stage.fresh_identity and new in self.mentioned_accounts)
        ):
            return None
        context = {k: [v.replace(old, new) for v in vs] for k, vs in r.context.items()}
        request = Request(
            principal=r.principal.replace(old, new),
            account=new,
            action=r.action,
            principal_type=r.principal_type,
            org_id=r.org_id,
            context=context,
        )
        return Found(request, new in self.mentioned_accounts, found.org_named, found.userid_token)

    def _found(self, model: Any, action: str, keys: set[str]) -> Found:
        account = model_str(model, self.A)
        t = model.eval(self.t, model_completion=True).as_long()
        ptype = _TYPES[t]
        principal = model_str(model, self.P)
        has_org = z3.is_true(model.eval(self.has_org, model_completion=True))
        org_id = model_str(model, self.O) if has_org else None
        context: dict[str, list[str]] = {}
        for key, slots in self.slots.items():
            if key not in keys or key in (
                "aws:principalaccount",
                "kms:calleraccount",
                "aws:principalarn",
                "aws:principaltype",
                "aws:principalorgid",
                "aws:principalisawsservice",
                "aws:resourceaccount",
            ):
                continue
            values = []
            for i, (b, v) in enumerate(slots):
                if not z3.is_true(model.eval(b, model_completion=True)):
                    continue
                values.append(self._value(model, key, i, v))
            context[key] = values
        userid = model_str(model, self.U)
        if "aws:userid" in keys:
            context.setdefault("aws:userid", [userid])
        request = Request(
            principal=principal,
            account=account,
            action=action,
            principal_type=ptype,
            org_id=org_id,
            context=context,
        )
        org_named = org_id is not None and org_id in self.mentioned_orgs
        token = next((t for t in self.userid_tokens if userid.startswith(t)), None)
        return Found(request, account in self.mentioned_accounts, org_named, token)

    def _value(self, model: Any, key: str, i: int, v: Any) -> str:
        if (key, i) in self.ip_views:
            n = model.eval(self.ip_views[(key, i)], model_completion=True).as_long()
            return ip_text(n)
        if (key, i) in self.date_views:
            r = model_real(model.eval(self.date_views[(key, i)], model_completion=True))
            return (
                datetime.fromtimestamp(float(r), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                if r.denominator == 1
                else str(float(r))
            )
        if (key, i) in self.num_views:
            r = model_real(model.eval(self.num_views[(key, i)], model_completion=True))
            return str(r.numerator) if r.denominator == 1 else str(float(r))
        return model_str(model, v)


def describe_found(enc: PolicyEncoding, found: Found) -> tuple[str, Any]:
    """Name the outside principal a cross-account model stands for, and a constraint that
    excludes it so the next query finds another."""
    r = found.request
    if found.account_named or not found.org_named:
        if found.userid_token and not found.account_named:
            return f"userid:{found.userid_token}", z3.Not(
                z3.PrefixOf(z3.StringVal(found.userid_token, enc.ctx), enc.U)
            )
        return r.account or "", z3.StringVal(r.account or "", enc.ctx) != enc.A
    return r.org_id or "", z3.Or(
        z3.Not(enc.has_org), z3.StringVal(r.org_id or "", enc.ctx) != enc.O
    )
