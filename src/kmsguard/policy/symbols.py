"""The attacker's request as Z3 terms: account, principal ARN and type, organization and
OU path, unique id, user name, network, and a slot for every other condition key a policy
reads (present or absent, and its value). Keys the attacker cannot choose are fixed or absent
as SPEC-exposure.md rule 8 says.

Each policy gets its own Z3 context, so threads may analyse different policies at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import z3

from kmsguard.model import TrustZone

from .document import Policy
from .keys import ALWAYS_PRESENT_FREE, MULTIVALUED, SERVICE_ONLY_KEYS, VPC_KEYS
from .query import partition_of, policy_constants, userid_tokens


class RequestSymbols:
    """One symbolic attacker request, and the formulas that make it a request AWS can send."""

    def __init__(self, policy: Policy, zone: TrustZone, key_account: str) -> None:
        # one Z3 context per policy: contexts are independent, so threads may analyse
        # different policies at once (one shared context crashes when two threads use it)
        self.ctx = z3.Context()
        self.policy = policy
        self.zone = zone
        self.key_account = key_account
        self.mentioned_accounts, self.mentioned_orgs, self.cidrs = policy_constants(policy)
        self.userid_tokens = userid_tokens(policy)
        self.partition = partition_of(policy)
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
        # constraints that matter only to queries whose statements read a key (costly for
        # the solver, so a query carries only those of its own statements' keys)
        self.keyed: dict[str, list[Any]] = {}
        self.statement_keys: dict[int, frozenset[str]] = {}
        self._keys_now: set[str] = set()

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
