"""Policy conditions as Z3 formulas over the symbolic request (`symbols.RequestSymbols`):
one atom per (operator, key, value), with IAM's rules for absent keys, multi-valued keys,
`...IfExists`, set qualifiers, wildcards, ARN components and policy variables."""

from __future__ import annotations

import math
import re
from typing import Any

import z3

from .document import Comparator, Condition, Qualifier
from .evaluator import parse_date, parse_number
from .smt import ci_literal, cmp, glob_re, lit, network128, py_glob
from .symbols import RequestSymbols
from .values import Lit, Var, Wild, literal_tokens, tokens

#: keys whose real values are always lower-case (organization ids and OU paths)
_LOWER_CASE_KEYS = frozenset({"aws:principalorgid", "aws:principalorgpaths"})
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

class ConditionAtoms(RequestSymbols):
    """Encodes conditions; `PolicyEncoding` adds principals, statements and queries."""


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
            like_as_arn = comp is Comparator.LIKE and lit(toks).count(":") == 5
            if key == "aws:principalarn" and (
                comp in (Comparator.EQ, Comparator.ARN) or like_as_arn
            ):
                # a pattern is handed on as text that reads back as the same tokens: literal
                # `*`, `?`, `$` escaped (`${*}`), or they would turn into wildcards again
                glob = comp is not Comparator.EQ
                text = _escaped(toks) if glob else lit(toks)
                by_segment = self._principal_arn_atom(text, glob=glob)
                if by_segment is not None:
                    return by_segment
            if comp is Comparator.EQ:
                return v == z3.StringVal(lit(toks), self.ctx)
            if key == "aws:principalorgpaths" and comp is not Comparator.ARN:
                return self._org_path_atom(toks, comp)
            if comp is Comparator.EQ_CI and key in _LOWER_CASE_KEYS:
                return v == z3.StringVal(lit(toks).lower(), self.ctx)
            if comp is Comparator.EQ_CI:
                return z3.InRe(v, ci_literal(lit(toks), self.ctx))
            return z3.InRe(v, glob_re(toks, arn=comp is Comparator.ARN, ctx=self.ctx))
        if comp is Comparator.BOOL:
            return z3.InRe(v, ci_literal(const.strip(), self.ctx))
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
                return z3.And(as_int >= 0, cmp(op, z3.ToReal(as_int), n))
            return cmp(op, self._view(key, i, "num" if is_num else "date"), n)
        self.unknown_atoms = True
        return self._fresh("unknown_atom", "bool")

    def _principal_arn_atom(self, pattern: str, *, glob: bool, variables: bool = True) -> Any:
        """`aws:PrincipalArn` against an ARN, one ARN component at a time: the caller's ARN is
        `arn:aws:iam::<account>:<resource>` (or `arn:aws:sts::<account>:federated-user/<n>`),
        so only the account and resource parts are symbolic. Much faster than a regex over
        the whole ARN, and exactly ArnLike's component-wise semantics."""
        parts = pattern.split(":", 5)
        if len(parts) != 6 or (glob and variables and any("${" in p for p in parts[:4])):
            return None  # an escape in the fixed parts: the generic regex reads it

        def fixed(pat: str, value: str) -> bool:
            if not glob:
                return pat == value
            return re.fullmatch(py_glob(pat, colon=False), value) is not None

        def sym(pat: str, var: Any) -> Any:
            if not glob:
                return var == z3.StringVal(pat, self.ctx)
            toks = tokens(pat, True) if variables else literal_tokens(pat)
            return z3.InRe(var, glob_re(toks, arn=False, ctx=self.ctx))

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
            text = lit(toks)
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
                z3.InRe(self.O, glob_re(head, arn=False, ctx=self.ctx)),
                z3.InRe(self.path_rest, glob_re(tail, arn=False, ctx=self.ctx)),
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
                value = self._variable_value(t, guards)
                if value is None:
                    self.unknown_atoms = True
                    return self._fresh("variable_pattern", "bool")
                parts.append(value)
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
                value = self._variable_value(t, guards)
                if value is None:
                    return None
                parts.append(value)
        rhs = parts[0] if len(parts) == 1 else z3.Concat(*parts)
        return z3.And(*guards, v == rhs)

    def _variable_value(self, t: Var, guards: list[Any]) -> Any:
        """The value `${key}` (or `${key, 'default'}`) stands for; None when the key may
        hold several values. Without a default the key must be present: a guard for that
        is added to `guards`."""
        slots = self.key_slots(t.key)
        if len(slots) != 1:
            return None
        present, value = slots[0]
        if t.default is None:
            guards.append(present)
            return value
        return z3.If(present, value, z3.StringVal(t.default, self.ctx))

    def _ip_atom(self, ip: Any, cidr: str) -> Any:
        net = network128(cidr)
        if net is None:
            return z3.BoolVal(False, self.ctx)
        base, prefix = net
        mask = ((1 << prefix) - 1) << (128 - prefix) if prefix else 0
        return (ip & z3.BitVecVal(mask, 128, self.ctx)) == z3.BitVecVal(base & mask, 128, self.ctx)


def _escaped(toks: tuple[Lit | Wild | Var, ...]) -> str:
    """Tokens without variables as pattern text that `tokens(text, True)` reads back:
    wildcards as `*`/`?`, literal `*`, `?`, `$` as `${*}`, `${?}`, `${$}`."""
    out = []
    for t in toks:
        if isinstance(t, Wild):
            out.append(t.char)
        elif isinstance(t, Lit):
            out.append("".join(f"${{{ch}}}" if ch in "*?$" else ch for ch in t.text))
    return "".join(out)
