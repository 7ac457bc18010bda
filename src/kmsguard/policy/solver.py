"""Complete search for attacker requests, with the Z3 SMT solver.

A key policy is encoded as a formula over everything an attacker may choose: their account,
principal ARN and type, organization (or none) and OU path, unique id, whether they come
through a VPC endpoint and from which IP, and every other condition key the policy mentions
(encryption context, tags, via-service, ...). Keys the attacker cannot choose are fixed or
absent as SPEC-exposure.md rule 8 says. `unsat` is a proof that no such request exists;
`sat` yields a model that becomes a concrete `Request`, which the concrete evaluator must
confirm before it is reported.

Each policy gets its own Z3 context, so threads may analyse different policies at once.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import z3

from kmsguard.model import TrustZone

from .document import (
    Comparator,
    Condition,
    Effect,
    Policy,
    PrincipalEntry,
    Qualifier,
    Statement,
)
from .evaluator import Request, parse_date, parse_number, restricts
from .keys import (
    ALWAYS_PRESENT_FREE,
    MULTIVALUED,
    SERVICE_ONLY_KEYS,
    VPC_KEYS,
)
from .possible import impossible
from .principals import read_aws_principal
from .values import Lit, Var, Wild, literal_tokens, tokens

#: Z3's deterministic resource budget per query (its "rlimit" units, not time): the same
#: input gets the same answer on any machine under any load. About 10 s on a slow laptop
#: core; a realistic query needs well under 1 % of it.
RLIMIT = 15_000_000

#: keys whose real values are always lower-case (organization ids and OU paths)
_LOWER_CASE_KEYS = frozenset({"aws:principalorgid", "aws:principalorgpaths"})
_TYPES = ("Account", "User", "AssumedRole", "FederatedUser")
#: keys whose string value is tied to the symbolic identity (not a free variable of its own)
_BOUND_KEYS = frozenset(
    {
        "aws:principalaccount",
        "kms:calleraccount",
        "aws:principalarn",
        "aws:principaltype",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:userid",
        "aws:username",
        "aws:principalisawsservice",
        "aws:resourceaccount",
    }
)
_PRINCIPAL_ARN = re.compile(r"^arn:([^:]+):(iam|sts)::(\d{12}):(.+)$")
_CALLER_ACCOUNT_VARS = re.compile(r"\$\{\s*(aws:principalaccount|kms:calleraccount)\s*\}", re.I)
_CALLER_ACCOUNT_MARK = "\x00caller-account\x00"
#: keys whose values never hold a `:`
_COLON_FREE_KEYS = frozenset(
    {
        "aws:principalaccount",
        "kms:calleraccount",
        "aws:principaltype",
        "aws:principalorgid",
        "aws:username",
        "aws:resourceaccount",
    }
)
_ACCOUNT_IN_TEXT = re.compile(r"(?<!\d)\d{12}(?!\d)")
_ORG_IN_TEXT = re.compile(r"o-[a-z0-9]{10,32}")
_IPV4_MAPPED = 0xFFFF << 32


class UndecidedError(Exception):
    """The solver gave up (resource budget spent, or an unsupported construct)."""


@dataclass(frozen=True, slots=True)
class Stage:
    """Which attackers a query admits."""

    fresh_identity: bool  # True: an unknown account/org (public); False: any outside account
    open_network: bool  # True: no VPC endpoint and an IP outside every CIDR the policy names


@dataclass(frozen=True, slots=True)
class Found:
    request: Request
    account_named: bool
    org_named: bool
    userid_token: str | None


def policy_constants(policy: Policy) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    """Account ids and org ids written anywhere in the policy; CIDRs in IP conditions."""
    texts: list[str] = []
    cidrs: list[str] = []
    for s in policy.statements:
        texts.extend(e.value for e in s.principals)
        for c in s.conditions:
            texts.extend(c.values)
            if c.comparator is Comparator.IP:
                cidrs.extend(c.values)
    accounts = frozenset(m for t in texts for m in _ACCOUNT_IN_TEXT.findall(t))
    orgs = frozenset(m for t in texts for m in _ORG_IN_TEXT.findall(t))
    return accounts, orgs, tuple(cidrs)


class PolicyEncoding:
    """The policy's statements as Z3 formulas over one symbolic attacker request."""

    def __init__(
        self,
        policy: Policy,
        statements: Iterable[Statement],
        zone: TrustZone,
        key_account: str,
    ) -> None:
        # one Z3 context per policy: contexts are independent, so threads may analyse
        # different policies at once (one shared context crashes when two threads use it)
        self.ctx = z3.Context()
        self.policy = policy
        self.zone = zone
        self.key_account = key_account
        self.mentioned_accounts, self.mentioned_orgs, self.cidrs = policy_constants(policy)
        self.userid_tokens = _userid_tokens(policy)
        self.partition = _partition(policy)
        self._n = 0
        S = self._s
        self.A = z3.String("account", self.ctx)
        self.R = z3.String("principal_resource", self.ctx)
        self.N = z3.String("federated_name", self.ctx)
        self.t = z3.Int("principal_type", self.ctx)
        self.P = z3.If(
            self.t == 3,
            z3.Concat(S(f"arn:{self.partition}:sts::"), self.A, S(":federated-user/"), self.N),
            z3.Concat(S(f"arn:{self.partition}:iam::"), self.A, S(":"), self.R),
        )
        self.type_str = z3.If(
            self.t == 0,
            S("Account"),
            z3.If(self.t == 1, S("User"), z3.If(self.t == 2, S("AssumedRole"), S("FederatedUser"))),
        )
        self.has_org = z3.Bool("has_org", self.ctx)
        self.O = z3.String("org_id", self.ctx)
        self.path_rest = z3.String("org_path_rest", self.ctx)
        self.path = z3.Concat(self.O, z3.StringVal("/", self.ctx), self.path_rest)
        self.U = z3.String("userid", self.ctx)
        self.username = z3.String("username", self.ctx)
        self.via_vpce = z3.Bool("via_vpce", self.ctx)
        self.base: list[Any] = [
            z3.Length(self.A) == 12,
            self.t >= 0,
            self.t <= 3,
            z3.Implies(self.t == 0, S("root") == self.R),
            z3.Implies(self.t == 1, z3.And(z3.PrefixOf(S("user/"), self.R), z3.Length(self.R) > 5)),
            z3.Implies(self.t == 2, z3.And(z3.PrefixOf(S("role/"), self.R), z3.Length(self.R) > 5)),
            z3.Implies(self.t == 3, z3.Length(self.N) > 1),
            z3.Implies(self.t == 0, self.U == self.A),
            z3.Implies(self.has_org, z3.PrefixOf(S("o-"), self.O)),
            z3.Implies(self.has_org, z3.Length(self.O) >= 12),
        ]
        # generic keys: key -> list of (present, string value) slots
        self.slots: dict[str, list[tuple[Any, Any]]] = {}
        self.num_views: dict[tuple[str, int], Any] = {}
        self.date_views: dict[tuple[str, int], Any] = {}
        self.ip_views: dict[tuple[str, int], Any] = {}
        self.unknown_atoms = False
        self._positive = True
        self._answers: dict[tuple[tuple[int, ...], tuple[int, ...], Stage], Found | None] = {}
        # constraints that matter only to queries whose statements read a key (costly for
        # the solver, so a query carries only those of its own statements' keys)
        self.keyed: dict[str, list[Any]] = {}
        self.statement_keys: dict[int, frozenset[str]] = {}
        self._keys_now: set[str] = set()
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

    def _real_org(self) -> Any:
        lower_alnum = z3.Union(z3.Range("a", "z", self.ctx), z3.Range("0", "9", self.ctx))
        return z3.Implies(
            self.has_org,
            z3.InRe(self.O, z3.Concat(z3.Re("o-", self.ctx), z3.Loop(lower_alnum, 10, 32))),
        )

    def _s(self, value: str) -> Any:
        return z3.StringVal(value, self.ctx)

    # --- symbolic request ---------------------------------------------------------------

    def _fresh(self, prefix: str, sort: str = "str") -> Any:
        self._n += 1
        name = f"{prefix}_{self._n}"
        if sort == "bool":
            return z3.Bool(name, self.ctx)
        if sort == "real":
            return z3.Real(name, self.ctx)
        if sort == "bv":
            return z3.BitVec(name, 128, self.ctx)
        return z3.String(name, self.ctx)

    def key_slots(self, key: str) -> list[tuple[Any, Any]]:
        self._keys_now.add(key)
        if key in self.slots:
            return self.slots[key]
        T, F, S = z3.BoolVal(True, self.ctx), z3.BoolVal(False, self.ctx), self._s
        slots: list[tuple[Any, Any]]
        match key:
            case "aws:principalaccount" | "kms:calleraccount":
                slots = [(T, self.A)]
            case "aws:principalarn":
                slots = [(T, self.P)]
            case "aws:principaltype":
                slots = [(T, self.type_str)]
            case "aws:principalorgid":
                slots = [(self.has_org, self.O)]
            case "aws:principalorgpaths":
                slots = [(self.has_org, self.path)]
            case "aws:userid":
                slots = [(T, self.U)]
            case "aws:username":
                # an IAM user's friendly name: the last part of its ARN, IAM's name characters
                name_chars = z3.Union(
                    z3.Range("a", "z", self.ctx),
                    z3.Range("A", "Z", self.ctx),
                    z3.Range("0", "9", self.ctx),
                    *[z3.Re(ch, self.ctx) for ch in "+=,.@_-"],
                )
                self.keyed["aws:username"] = [
                    z3.Implies(
                        self.t == 1,
                        z3.And(
                            z3.SuffixOf(z3.Concat(S("/"), self.username), self.R),
                            z3.InRe(self.username, z3.Plus(name_chars)),
                        ),
                    )
                ]
                slots = [(self.t == 1, self.username)]
            case "aws:principalisawsservice":
                slots = [(T, S("false"))]
            case "aws:resourceaccount":
                slots = [(T, S(self.key_account))]
            case "aws:sourceip":
                slots = [(z3.Not(self.via_vpce), self._fresh("sourceip"))]
            case k if k in VPC_KEYS:
                slots = [(self.via_vpce, self._fresh(k))]
            case k if k in SERVICE_ONLY_KEYS:
                slots = [(F, S(""))]
            case k if k in ALWAYS_PRESENT_FREE:
                slots = [(T, self._fresh(k))]
            case k if k in MULTIVALUED:
                slots = [(self._fresh(k, "bool"), self._fresh(k)) for _ in range(3)]
            case _:
                slots = [(self._fresh(key, "bool"), self._fresh(key))]
        self.slots[key] = slots
        return slots

    def _view(self, key: str, i: int, kind: str) -> Any:
        store = {"num": self.num_views, "date": self.date_views, "ip": self.ip_views}[kind]
        if (key, i) not in store:
            var = self._fresh(f"{key}_{kind}", "bv" if kind == "ip" else "real")
            store[(key, i)] = var
            if kind == "date" and key == "aws:currenttime":
                self.base.append(var >= z3.RealVal(int(datetime.now(UTC).timestamp()), self.ctx))
            if kind == "num" and key == "aws:epochtime":
                self.base.append(var >= z3.RealVal(int(datetime.now(UTC).timestamp()), self.ctx))
        return store[(key, i)]

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
            return z3.InRe(self.P, _glob_re(literal_tokens(e.value), arn=True, ctx=self.ctx))
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

    # --- conditions -----------------------------------------------------------------------

    def _condition(self, c: Condition) -> Any:
        if c.comparator is Comparator.UNKNOWN:
            self.unknown_atoms = True
            return self._fresh("unknown_operator", "bool")
        slots = self.key_slots(c.key)
        present = z3.Or(*[b for b, _ in slots])
        if c.comparator is Comparator.NULL:
            return z3.Or(
                *[z3.Not(present) if v.strip().lower() == "true" else present for v in c.values]
            )
        matches = []
        for i, (_, v) in enumerate(slots):
            m = z3.Or(*[self._atom(c, c.key, i, v, const) for const in c.values])
            matches.append(z3.Not(m) if c.negated else m)
        if c.qualifier is Qualifier.FOR_ALL_VALUES:
            on_present = z3.And(
                *[z3.Implies(b, m) for (b, _), m in zip(slots, matches, strict=True)]
            )
        elif c.qualifier is Qualifier.FOR_ANY_VALUE:
            on_present = z3.Or(*[z3.And(b, m) for (b, _), m in zip(slots, matches, strict=True)])
        elif len(slots) > 1:
            if c.negated:
                on_present = z3.And(
                    *[z3.Implies(b, m) for (b, _), m in zip(slots, matches, strict=True)]
                )
            else:
                on_present = z3.Or(
                    *[z3.And(b, m) for (b, _), m in zip(slots, matches, strict=True)]
                )
        else:
            on_present = matches[0]
        if c.if_exists or c.qualifier is Qualifier.FOR_ALL_VALUES:
            on_absent = z3.BoolVal(True, self.ctx)
        elif c.qualifier is Qualifier.FOR_ANY_VALUE:
            on_absent = z3.BoolVal(False, self.ctx)
        else:
            on_absent = z3.BoolVal(c.negated, self.ctx)
        return z3.If(present, on_present, on_absent)

    def _atom(self, c: Condition, key: str, i: int, v: Any, const: str) -> Any:
        comp = c.comparator
        if comp in (Comparator.EQ, Comparator.EQ_CI, Comparator.LIKE, Comparator.ARN):
            wild = comp in (Comparator.LIKE, Comparator.ARN)
            toks = self._fixed_variables(tokens(const, wild))
            if key == "aws:principalarn" and comp is not Comparator.EQ_CI:
                # `arn:aws:iam::${aws:PrincipalAccount}:role/x`: the ARN's account part is
                # always the caller's own, so that variable pins nothing there
                marked = _CALLER_ACCOUNT_VARS.sub(_CALLER_ACCOUNT_MARK, const)
                parts = marked.split(":", 5)
                if len(parts) == 6 and parts[4] == _CALLER_ACCOUNT_MARK and "${" not in marked:
                    glob = comp is not Comparator.EQ
                    by_segment = self._principal_arn_atom(marked, glob=glob)
                    if by_segment is not None:
                        return by_segment
            if any(isinstance(t, Var) for t in toks):
                return self._with_variables(comp, v, toks)
            # StringLike too when the pattern has the ARN's five colons: the caller's ARN has
            # exactly five, so no `*` can reach across one and matching is per component
            like_as_arn = comp is Comparator.LIKE and _lit(toks).count(":") == 5
            if key == "aws:principalarn" and (
                comp in (Comparator.EQ, Comparator.ARN) or like_as_arn
            ):
                by_segment = self._principal_arn_atom(_lit(toks), glob=comp is not Comparator.EQ)
                if by_segment is not None:
                    return by_segment
            if comp is Comparator.EQ:
                return v == z3.StringVal(_lit(toks), self.ctx)
            if key == "aws:principalorgpaths" and comp is not Comparator.ARN:
                return self._org_path_atom(toks, comp)
            if comp is Comparator.EQ_CI and key in _LOWER_CASE_KEYS:
                return v == z3.StringVal(_lit(toks).lower(), self.ctx)
            if comp is Comparator.EQ_CI:
                return z3.InRe(v, _ci_literal(_lit(toks), self.ctx))
            return z3.InRe(v, _glob_re(toks, arn=comp is Comparator.ARN, ctx=self.ctx))
        if comp is Comparator.BOOL:
            return z3.InRe(v, _ci_literal(const.strip(), self.ctx))
        if comp is Comparator.BINARY:
            return v == z3.StringVal(const, self.ctx)
        if comp is Comparator.IP:
            if key in _BOUND_KEYS:
                return z3.BoolVal(False, self.ctx)  # identity values are never IP addresses
            return self._ip_atom(self._view(key, i, "ip"), const)
        if comp.value.startswith(("num_", "date_")):
            is_num = comp.value.startswith("num_")
            n = parse_number(const) if is_num else parse_date(const)
            if n is None:
                return z3.BoolVal(False, self.ctx)
            op = comp.value.split("_", 1)[1]
            if key in _BOUND_KEYS:
                # the number an identity value reads as (account ids are all digits): tied
                # to the same string the other atoms see, as the evaluator reads it
                if key in ("aws:principalaccount", "kms:calleraccount"):
                    return self._account_number(key, op, n)
                as_int = z3.StrToInt(v)
                return z3.And(as_int >= 0, _cmp(op, z3.ToReal(as_int), n))
            return _cmp(op, self._view(key, i, "num" if is_num else "date"), n)
        self.unknown_atoms = True
        return self._fresh("unknown_atom", "bool")

    def _principal_arn_atom(self, pattern: str, *, glob: bool, variables: bool = True) -> Any:
        """`aws:PrincipalArn` against an ARN, one ARN component at a time: the caller's ARN is
        `arn:aws:iam::<account>:<resource>` (or `arn:aws:sts::<account>:federated-user/<n>`),
        so only the account and resource parts are symbolic. Much faster than a regex over
        the whole ARN, and exactly ArnLike's component-wise semantics."""
        parts = pattern.split(":", 5)
        if len(parts) != 6:
            return None

        def fixed(pat: str, value: str) -> bool:
            if not glob:
                return pat == value
            return re.fullmatch(_py_glob(pat, colon=False), value) is not None

        def sym(pat: str, var: Any) -> Any:
            if not glob:
                return var == z3.StringVal(pat, self.ctx)
            toks = tokens(pat, True) if variables else literal_tokens(pat)
            return z3.InRe(var, _glob_re(toks, arn=False, ctx=self.ctx))

        if not fixed(parts[0], "arn") or not fixed(parts[3], ""):
            return z3.BoolVal(False, self.ctx)
        if not fixed(parts[1], self.partition):
            return z3.BoolVal(False, self.ctx)
        account = (
            z3.BoolVal(True, self.ctx)
            if parts[4] == _CALLER_ACCOUNT_MARK
            else sym(parts[4], self.A)
        )
        options = []
        if fixed(parts[2], "iam"):
            options.append(z3.And(self.t != 3, sym(parts[5], self.R)))
        if fixed(parts[2], "sts"):
            fed = z3.Concat(z3.StringVal("federated-user/", self.ctx), self.N)
            options.append(z3.And(self.t == 3, sym(parts[5], fed)))
        return z3.And(account, z3.Or(*options, z3.BoolVal(False, self.ctx)))

    def _org_path_atom(self, toks: tuple[Lit | Wild | Var, ...], comp: Comparator) -> Any:
        """An OU path is `<org id>/<rest>` and the org id has no `/`: a pattern matches it
        exactly when, for some place in the pattern that consumes that first `/` (a literal
        `/`, a `?`, or a `*` running across it), the part before matches the org id and the
        part after matches the rest. Each part is a regex over one variable: fast, and exact."""
        if comp is not Comparator.LIKE:
            text = _lit(toks)
            head, sep, tail = text.partition("/")
            if not sep:
                return z3.BoolVal(False, self.ctx)
            if comp is Comparator.EQ_CI:
                head, tail = head.lower(), tail.lower()
            return z3.And(
                self.O == z3.StringVal(head, self.ctx),
                self.path_rest == z3.StringVal(tail, self.ctx),
            )
        star = Wild("*")
        splits: list[tuple[tuple[Lit | Wild | Var, ...], tuple[Lit | Wild | Var, ...]]] = []
        for i, t in enumerate(toks):
            before, after = toks[:i], toks[i + 1 :]
            if isinstance(t, Lit):
                for j, ch in enumerate(t.text):
                    if ch == "/":
                        splits.append(((*before, Lit(t.text[:j])), (Lit(t.text[j + 1 :]), *after)))
            elif isinstance(t, Wild):
                splits.append(
                    ((*before, star), (star, *after)) if t.char == "*" else (before, after)
                )
        options = [
            z3.And(
                z3.InRe(self.O, _glob_re(head, arn=False, ctx=self.ctx)),
                z3.InRe(self.path_rest, _glob_re(tail, arn=False, ctx=self.ctx)),
            )
            for head, tail in splits
            if not any(isinstance(t, Lit) and "/" in t.text for t in head)
        ]
        return z3.Or(*options, z3.BoolVal(False, self.ctx))

    def _trusted_path(self, prefix: str) -> Any:
        head, sep, tail = prefix.partition("/")
        if not sep:
            return z3.PrefixOf(z3.StringVal(prefix, self.ctx), self.O)
        return z3.And(
            self.O == z3.StringVal(head, self.ctx),
            z3.PrefixOf(z3.StringVal(tail, self.ctx), self.path_rest),
        )

    def _account_number(self, key: str, op: str, n: float) -> Any:
        """The account id read as a number: it is 12 digits, so comparing numbers is
        comparing the zero-padded strings (much faster than converting)."""
        self.keyed.setdefault(key, []).append(
            z3.InRe(self.A, z3.Loop(z3.Range("0", "9", self.ctx), 12, 12))
        )
        top = 10**12 - 1
        lo, hi = math.ceil(n), math.floor(n)
        bound = {"lt": lo - 1, "le": hi, "gt": hi + 1, "ge": lo, "eq": hi}[op]
        if op == "eq" and lo != hi:
            return z3.BoolVal(False, self.ctx)
        if (op in ("lt", "le") and bound < 0) or (op in ("gt", "ge", "eq") and bound > top):
            return z3.BoolVal(False, self.ctx)
        if (op in ("lt", "le") and bound >= top) or (op in ("gt", "ge") and bound <= 0):
            return z3.BoolVal(True, self.ctx)
        text = z3.StringVal(f"{bound:012d}", self.ctx)
        if op == "eq":
            return self.A == text
        return self.A <= text if op in ("lt", "le") else text <= self.A

    def _fixed_variables(self, toks: tuple[Lit | Wild | Var, ...]) -> tuple[Lit | Wild | Var, ...]:
        """Replace variables whose value every request shares (`${aws:ResourceAccount}`)."""
        fixed = {"aws:resourceaccount": self.key_account, "aws:principalisawsservice": "false"}
        if not any(isinstance(t, Var) and t.key in fixed for t in toks):
            return toks
        out: list[Lit | Wild | Var] = []
        for t in toks:
            if isinstance(t, Var) and t.key in fixed:
                t = Lit(fixed[t.key])
            if isinstance(t, Lit) and out and isinstance(out[-1], Lit):
                out[-1] = Lit(out[-1].text + t.text)
            else:
                out.append(t)
        return tuple(out)

    def _with_variables(self, comp: Comparator, v: Any, toks: tuple[Lit | Wild | Var, ...]) -> Any:
        if comp in (Comparator.LIKE, Comparator.ARN) and self._positive:
            exact = self._pattern_with_variables(comp, v, toks)
            if exact is not None:
                return exact
        if comp is not Comparator.EQ or any(isinstance(t, Wild) for t in toks):
            # a pattern built from request values: leave it to the attacker (conservative)
            self.unknown_atoms = True
            return self._fresh("variable_pattern", "bool")
        parts: list[Any] = []
        guards: list[Any] = []
        for t in toks:
            if isinstance(t, Var):
                slots = self.key_slots(t.key)
                if len(slots) != 1:
                    self.unknown_atoms = True
                    return self._fresh("variable_pattern", "bool")
                b, val = slots[0]
                if t.default is None:
                    guards.append(b)
                    parts.append(val)
                else:
                    parts.append(z3.If(b, val, z3.StringVal(t.default, self.ctx)))
            else:
                assert isinstance(t, Lit)
                parts.append(z3.StringVal(t.text, self.ctx))
        rhs = parts[0] if len(parts) == 1 else z3.Concat(*parts)
        return z3.And(*guards, v == rhs)

    def _pattern_with_variables(
        self, comp: Comparator, v: Any, toks: tuple[Lit | Wild | Var, ...]
    ) -> Any:
        """`v` matches a Like/Arn pattern with variables, where only a match must be shown:
        `v` is the pattern's pieces concatenated, each wildcard a fresh string (no `:` in
        the ARN's first five components). None when a variable may hold a `:` there."""
        parts: list[Any] = []
        guards: list[Any] = []
        colons = 0
        for t in toks:
            if isinstance(t, Lit):
                parts.append(z3.StringVal(t.text, self.ctx))
                colons += t.text.count(":")
            elif isinstance(t, Wild):
                w = self._fresh("wildcard")
                head = comp is Comparator.ARN and colons < 5
                if head:
                    guards.append(z3.Not(z3.Contains(w, z3.StringVal(":", self.ctx))))
                if t.char == "?":
                    guards.append(z3.Length(w) == 1)
                parts.append(w)
            else:
                if comp is Comparator.ARN and colons < 5 and t.key not in _COLON_FREE_KEYS:
                    return None
                slots = self.key_slots(t.key)
                if len(slots) != 1:
                    return None
                b, val = slots[0]
                if t.default is None:
                    guards.append(b)
                    parts.append(val)
                else:
                    parts.append(z3.If(b, val, z3.StringVal(t.default, self.ctx)))
        rhs = parts[0] if len(parts) == 1 else z3.Concat(*parts)
        return z3.And(*guards, v == rhs)

    def _ip_atom(self, ip: Any, cidr: str) -> Any:
        net = _network128(cidr)
        if net is None:
            return z3.BoolVal(False, self.ctx)
        base, prefix = net
        mask = ((1 << prefix) - 1) << (128 - prefix) if prefix else 0
        return (ip & z3.BitVecVal(mask, 128, self.ctx)) == z3.BitVecVal(base & mask, 128, self.ctx)

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
                        if (n := _network128(c)) is not None and n[1] > 96
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
                candidate: Found | None = _prettier(found, confirm)
            else:
                candidate = next(
                    (
                        _prettier(r, confirm)
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
                found = _prettier(self._found(solver.model(), action, keys), confirm)
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
        account = _str(model, self.A)
        t = model.eval(self.t, model_completion=True).as_long()
        ptype = _TYPES[t]
        principal = _str(model, self.P)
        has_org = z3.is_true(model.eval(self.has_org, model_completion=True))
        org_id = _str(model, self.O) if has_org else None
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
        userid = _str(model, self.U)
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
            return _ip_text(n)
        if (key, i) in self.date_views:
            r = _real(model.eval(self.date_views[(key, i)], model_completion=True))
            return (
                datetime.fromtimestamp(float(r), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                if r.denominator == 1
                else str(float(r))
            )
        if (key, i) in self.num_views:
            r = _real(model.eval(self.num_views[(key, i)], model_completion=True))
            return str(r.numerator) if r.denominator == 1 else str(float(r))
        return _str(model, v)


# --- helpers ------------------------------------------------------------------------------


_IAM_NAME = re.compile(
    r"^arn:aws:(iam|sts)::\d{12}:(root|(role|user|federated-user)/[\w+=,.@/-]+)$"
)


def _prettier(found: Found, confirm: Callable[[Request], bool]) -> Found:
    """Prefer a readable role (`role/kmsguard-witness`), a documentation IPv4 address and a
    readable unique id over solver-made values such as `federated-user/_B` or `::`, keeping
    each change only if the concrete evaluator still allows the request."""
    r = found.request
    tweaks: list[dict[str, list[str]]] = []
    ips = r.context.get("aws:sourceip")
    if ips and ":" in ips[0]:
        tweaks.append({"aws:sourceip": ["198.51.100.23"]})
    best = r
    candidates = []
    if not (r.principal_type == "AssumedRole" and _IAM_NAME.match(r.principal)):
        candidates.append(
            Request(
                principal=f"arn:aws:iam::{r.account}:role/kmsguard-witness",
                account=r.account,
                action=r.action,
                principal_type="AssumedRole",
                org_id=r.org_id,
                # a role session carries no aws:username, and a user's unique id is no role's
                context={
                    k: v
                    for k, v in r.context.items()
                    if k != "aws:username"
                    and not (k == "aws:userid" and not any(x.startswith("AROA") for x in v))
                },
            )
        )
    if r.principal_type == "User" and not _IAM_NAME.match(r.principal):
        # a user whose unique id or name the policy asks about: keep the type and the name
        # the policy asks for (aws:username), else a readable one
        asked = list(r.context.get("aws:username") or ())
        name = asked[0] if asked and re.fullmatch(r"[\w+=,.@-]+", asked[0]) else "kmsguard-witness"
        context = dict(r.context)
        if "aws:username" in context:
            context["aws:username"] = [name]
        candidates.append(
            Request(
                principal=f"arn:aws:iam::{r.account}:user/{name}",
                account=r.account,
                action=r.action,
                principal_type="User",
                org_id=r.org_id,
                context=context,
            )
        )
    if "//" in r.principal:
        # `role//app` names what `role/app` names to the policy's patterns more often than not
        candidates.append(
            Request(
                principal=re.sub(r"(?<=:)(role|user)/+", r"\1/", r.principal).replace("//", "/"),
                account=r.account,
                action=r.action,
                principal_type=r.principal_type,
                org_id=r.org_id,
                context=dict(r.context),
            )
        )
    for candidate in candidates:
        if confirm(candidate):
            best = candidate
            break
    if "aws:userid" in r.context and not found.userid_token:
        readable = {
            "AssumedRole": f"AROAKMSGUARDWITNESS01:{r.account}",
            "User": "AIDAKMSGUARDWITNESS01",
            "Account": r.account or "",
        }.get(best.principal_type)
        if readable:
            tweaks.append({"aws:userid": [readable]})
    for tweak in tweaks:
        candidate = Request(
            principal=best.principal,
            account=best.account,
            action=best.action,
            principal_type=best.principal_type,
            org_id=best.org_id,
            context={**best.context, **tweak},
        )
        if confirm(candidate):
            best = candidate
    if best is r:
        return found
    return Found(best, found.account_named, found.org_named, found.userid_token)


def _partition(policy: Policy) -> str:
    """The AWS partition the policy's ARNs live in (callers' ARNs are in the same one)."""
    texts = [e.value for s in policy.statements for e in s.principals]
    texts += [v for s in policy.statements for c in s.conditions for v in c.values]
    for partition in ("aws-cn", "aws-us-gov"):
        if any(t.startswith(f"arn:{partition}:") for t in texts):
            return partition
    return "aws"


def _userid_tokens(policy: Policy) -> tuple[str, ...]:
    """Unique-id prefixes named in aws:userid conditions (`AROAEXAMPLE:*` -> `AROAEXAMPLE`):
    an unknown attacker cannot own them."""
    out: set[str] = set()
    for s in policy.statements:
        for c in s.conditions:
            if c.key != "aws:userid":
                continue
            for v in c.values:
                head = re.split(r"[:*?$]", v, maxsplit=1)[0]
                if len(head) >= 5:
                    out.add(head)
    return tuple(sorted(out))


def _lit(toks: tuple[Lit | Wild | Var, ...]) -> str:
    return "".join(
        t.text if isinstance(t, Lit) else t.char if isinstance(t, Wild) else "" for t in toks
    )


def _ci_literal(text: str, ctx: Any) -> Any:
    parts = []
    for ch in text:
        lo, up = ch.lower(), ch.upper()
        parts.append(z3.Re(ch, ctx) if lo == up else z3.Union(z3.Re(lo, ctx), z3.Re(up, ctx)))
    if not parts:
        return z3.Re("", ctx)
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def _any_char(ctx: Any) -> Any:
    return z3.AllChar(z3.ReSort(z3.StringSort(ctx)))


# IAM values here are printable ASCII; a small alphabet keeps regex reasoning fast
z3.set_param("encoding", "ascii")


# [^:] as two ranges around ":" (0x3A)
def _not_colon(ctx: Any) -> Any:
    return z3.Union(z3.Range(" ", "9", ctx), z3.Range(";", "~", ctx))


def _glob_re(toks: tuple[Lit | Wild | Var, ...], *, arn: bool, ctx: Any) -> Any:
    parts: list[Any] = []
    colons = 0
    not_colon = _not_colon(ctx) if arn else None
    for t in toks:
        if isinstance(t, Lit):
            parts.append(z3.Re(t.text, ctx))
            colons += t.text.count(":")
        elif isinstance(t, Wild):
            one = not_colon if (arn and colons < 5) else _any_char(ctx)
            parts.append(z3.Star(one) if t.char == "*" else one)
    if not parts:
        return z3.Re("", ctx)
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


def _py_glob(pattern: str, *, colon: bool) -> str:
    any_run = ".*" if colon else "[^:]*"
    return "".join(any_run if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _cmp(op: str, var: Any, value: float) -> Any:
    c = z3.RealVal(str(Fraction(value).limit_denominator(10**9)), var.ctx)
    match op:
        case "eq":
            return var == c
        case "lt":
            return var < c
        case "le":
            return var <= c
        case "gt":
            return var > c
        case "ge":
            return var >= c
    return z3.BoolVal(False, var.ctx)


def _network128(cidr: str) -> tuple[int, int] | None:
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None
    if net.version == 4:
        return _IPV4_MAPPED | int(net.network_address), 96 + net.prefixlen
    return int(net.network_address), net.prefixlen


def _ip_text(n: int) -> str:
    if n >> 32 == 0xFFFF:
        return str(ipaddress.IPv4Address(n & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(n))


def _str(model: Any, expr: Any) -> str:
    val = model.eval(expr, model_completion=True)
    return str(val.as_string())


def _real(val: Any) -> Fraction:
    if z3.is_int_value(val):
        return Fraction(val.as_long())
    if z3.is_rational_value(val):
        return Fraction(val.numerator_as_long(), val.denominator_as_long())
    return Fraction(str(val.as_decimal(12)).rstrip("?"))
