"""An independent reference evaluator for key policies, for tests only.

It reads the raw policy JSON (a dict) and a plain request (a dict) and answers: is the request
allowed? It imports nothing from `kmsguard`: it is written from the IAM User Guide ("Policy
evaluation logic", "Condition operators", "Multivalued context keys", "Policy variables",
"Resource", "Principal", "NotPrincipal") and /work/shared/SPEC-exposure.md, so that a bug in
the engine's own evaluator or parser is not shared by the differential check.

Deliberately simple: plain loops, no caching, no regexes built from policy text.

A request:
    {
        "principal": "arn:aws:iam::210987654321:role/app",  # IAM form; service name for services
        "account": "210987654321",
        "type": "AssumedRole",        # Account | User | AssumedRole | FederatedUser | Service
        "session": "s1" or None,      # role session name; None = one the policy does not name
        "org_id": "o-..." or None,
        "action": "kms:Decrypt",
        "context": {"aws:SourceIp": ["198.51.100.7"], ...},  # further keys, any case
    }

Where the product deliberately reads something IAM leaves open (docs/engine.md, "Semantic
choices"), the reference follows the product and says so with "(product rule)".
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")

# --- wildcard patterns ------------------------------------------------------------------
# A pattern is a list of tokens: a one-character string (a literal character), or one of
# the markers below. Literal characters are single characters so that `${*}` (a literal
# star) and a variable's value never turn into wildcards.

STAR = ("wild", "*")  # any run of characters
QMARK = ("wild", "?")  # any one character
STAR_NO_COLON = ("wild", "*:")  # any run without `:` (resource ARN segments)
QMARK_NO_COLON = ("wild", "?:")  # any one character but `:`
FREE = ("free",)  # (key ARN templates only) an unknown run without `:`

Token = Any


def glob_match(pattern: list[Token], text: str) -> bool:
    """Does the whole text match the pattern? (Positions reachable after each token.)"""
    positions = {0}
    for tok in pattern:
        after: set[int] = set()
        for p in positions:
            if tok == STAR:
                after.update(range(p, len(text) + 1))
            elif tok == STAR_NO_COLON:
                end = p
                after.add(end)
                while end < len(text) and text[end] != ":":
                    end += 1
                    after.add(end)
            elif tok == QMARK:
                if p < len(text):
                    after.add(p + 1)
            elif tok == QMARK_NO_COLON:
                if p < len(text) and text[p] != ":":
                    after.add(p + 1)
            elif p < len(text) and text[p] == tok:
                after.add(p + 1)
        positions = after
    return len(text) in positions


def chars(text: str) -> list[Token]:
    return list(text)


def policy_value(
    value: str, context: dict[str, list[str]], *, wildcards: bool, variables: bool
) -> list[Token] | None:
    """A condition value as tokens: `${key}` replaced from the request (IAM User Guide,
    "Policy variables"), `${*}` `${?}` `${$}` as literal characters, `*`/`?` as wildcards
    when `wildcards`. None when a variable has no single value and no default."""
    out: list[Token] = []
    i = 0
    while i < len(value):
        if variables and value.startswith("${", i) and value.find("}", i) != -1:
            end = value.find("}", i)
            inner = value[i + 2 : end].strip()
            i = end + 1
            if inner in ("*", "?", "$"):
                out.append(inner)
                continue
            name, _, default = inner.partition(",")
            found = context.get(name.strip().lower(), [])
            default = default.strip()
            if len(found) == 1:
                out += chars(found[0])
            elif len(default) >= 2 and default[0] == default[-1] == "'":
                out += chars(default[1:-1])
            else:
                return None
            continue
        ch = value[i]
        if wildcards and ch == "*":
            out.append(STAR)
        elif wildcards and ch == "?":
            out.append(QMARK)
        else:
            out.append(ch)
        i += 1
    return out


def as_text(tokens: list[Token]) -> str:
    return "".join(t if isinstance(t, str) else t[1][0] for t in tokens)


def split_at_colons(tokens: list[Token], parts: int) -> list[list[Token]]:
    """Tokens split at the first `parts - 1` literal colons."""
    out: list[list[Token]] = [[]]
    for t in tokens:
        if t == ":" and len(out) < parts:
            out.append([])
        else:
            out[-1].append(t)
    return out


def arn_like(pattern: list[Token], arn: str) -> bool:
    """ArnLike / ArnEquals: each of the six colon-separated ARN parts matched separately."""
    pattern_parts = split_at_colons(pattern, 6)
    arn_parts = arn.split(":", 5)
    if len(pattern_parts) != len(arn_parts):
        return False
    return all(glob_match(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


# --- the request's context ----------------------------------------------------------------


def request_context(request: dict[str, Any], key_account: str | None) -> dict[str, list[str]]:
    """Every condition key the request carries, by lower-cased name (SPEC rule 8)."""
    now = datetime.now(UTC)
    ctx: dict[str, list[str]] = {
        "aws:securetransport": ["true"],
        "aws:currenttime": [now.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:epochtime": [str(int(now.timestamp()))],
    }
    if request.get("type") == "Service":
        ctx["aws:principalisawsservice"] = ["true"]
        ctx["aws:principalservicename"] = [request["principal"]]
    else:
        ctx["aws:principalisawsservice"] = ["false"]
        ctx["aws:principalarn"] = [request["principal"]]
        ctx["aws:principaltype"] = [request["type"]]
        if request.get("account"):
            ctx["aws:principalaccount"] = [request["account"]]
            ctx["kms:calleraccount"] = [request["account"]]
        if request["type"] == "User":
            ctx["aws:username"] = [request["principal"].split("/")[-1]]
        if request.get("org_id"):
            ctx["aws:principalorgid"] = [request["org_id"]]
    if key_account:
        ctx["aws:resourceaccount"] = [key_account]
    for key, values in request.get("context", {}).items():
        values = [values] if isinstance(values, str) else list(values)
        if values:
            ctx[key.lower()] = values
        else:
            ctx.pop(key.lower(), None)
    return ctx


# --- statements ---------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def get(statement: dict[str, Any], name: str) -> Any:
    """A statement element; element names are case-insensitive."""
    for k, v in statement.items():
        if k.lower() == name.lower():
            return v
    return None


def is_allowed(
    policy: dict[str, Any],
    request: dict[str, Any],
    *,
    key_account: str,
    key_arn: str | None = None,
) -> bool:
    """Default deny; any matching Deny wins; otherwise a matching Allow allows."""
    variables = policy.get("Version") == "2012-10-17"  # earlier versions: `${` is text
    context = request_context(request, key_account)
    allowed = False
    for statement in as_list(policy["Statement"]):
        allow = get(statement, "Effect") == "Allow"
        if not action_matches(statement, request["action"]):
            continue
        if not resource_matches(statement, key_account, key_arn, allow):
            continue
        if not principal_matches(statement, request):
            continue
        if not conditions_hold(get(statement, "Condition") or {}, context, allow, variables):
            continue
        if not allow:
            return False
        allowed = True
    return allowed


def action_matches(statement: dict[str, Any], action: str) -> bool:
    """Case-insensitive, `*` and `?` wildcards; NotAction matches every other action."""
    listed = get(statement, "Action")
    negated = listed is None
    if negated:
        listed = get(statement, "NotAction")
    hit = any(
        glob_match(
            policy_value(p.lower(), {}, wildcards=True, variables=False) or [], action.lower()
        )
        for p in as_list(listed)
    )
    return hit != negated


# --- resources ----------------------------------------------------------------------------


def resource_pattern(pattern: str) -> list[Token]:
    """A Resource ARN pattern: wildcards stay inside one colon-separated segment, except a
    `*` that is the last character of a segment, which may match across colons (IAM User
    Guide, "Resource": "If the * wildcard is the last character of a resource ARN segment, it
    can expand to match beyond the colon boundaries")."""
    out: list[Token] = []
    for i, ch in enumerate(pattern):
        if ch == "*":
            last_of_segment = i + 1 == len(pattern) or pattern[i + 1] == ":"
            out.append(STAR if last_of_segment else STAR_NO_COLON)
        elif ch == "?":
            out.append(QMARK_NO_COLON)
        else:
            out.append(ch)
    return out


def could_match(pattern: list[Token], template: list[Token]) -> bool:
    """Is there a string matched by both? The template has literal characters and FREE
    parts (any run without `:`). A search over pairs of positions."""
    start = (0, 0)
    seen = {start}
    todo = [start]
    while todo:
        i, j = todo.pop()
        if i == len(pattern) and j == len(template):
            return True
        moves = []
        p = pattern[i] if i < len(pattern) else None
        t = template[j] if j < len(template) else None
        if p in (STAR, STAR_NO_COLON):
            moves.append((i + 1, j))  # the star ends
        if t == FREE:
            moves.append((i, j + 1))  # the free part ends
        if p is not None and t is not None:
            # both consume one character: is there a character both accept?
            if t == FREE:
                ok = p not in (":",)  # every pattern token accepts some non-colon character
            elif p in (STAR, QMARK):
                ok = True
            elif p in (STAR_NO_COLON, QMARK_NO_COLON):
                ok = t != ":"
            else:
                ok = p == t
            if ok:
                moves.append(
                    (i if p in (STAR, STAR_NO_COLON) else i + 1, j if t == FREE else j + 1)
                )
        for m in moves:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return False


def key_templates(key_account: str) -> list[list[Token]]:
    """Every key ARN of the account: arn:P:kms:REGION:ACCOUNT:key/ID, region and id unknown."""
    return [
        [*chars(f"arn:{p}:kms:"), FREE, *chars(f":{key_account}:key/"), FREE] for p in PARTITIONS
    ]


def resource_state(pattern: str, key_account: str, key_arn: str | None) -> str:
    """`all` (covers this key for sure), `some` (may), `none`."""
    if pattern == "*":
        return "all"
    if "${" in pattern:
        return "some"  # a variable in the ARN: it may name this key
    tokens = resource_pattern(pattern)
    if key_arn is not None:
        return "all" if glob_match(tokens, key_arn) else "none"
    templates = key_templates(key_account)
    # covers every key of the account: matches it whatever the unknown parts are. They are
    # runs of characters no pattern writes, so only wildcards can absorb them; a short and a
    # long run rule out patterns that need a particular length (`?`).
    every = all(
        glob_match(tokens, "".join(unknown if tok == FREE else tok for tok in t))
        for t in templates
        for unknown in ("\u2603", "\u2603" * 40)
    )
    if every:
        return "all"
    return "some" if any(could_match(tokens, t) for t in templates) else "none"


def resource_matches(
    statement: dict[str, Any], key_account: str, key_arn: str | None, allow: bool
) -> bool:
    """With the key ARN unknown (a policy file) an Allow counts when it could cover a key of
    the owner's account, a Deny only when it surely covers every one (product rule: never
    under-report). A statement without Resource is read as `*`."""
    listed = get(statement, "Resource")
    negated = listed is None and get(statement, "NotResource") is not None
    if negated:
        listed = get(statement, "NotResource")
    if listed is None:
        listed = "*"
    states = [resource_state(p, key_account, key_arn) for p in as_list(listed)]
    if not negated:
        wanted = ("all", "some") if allow else ("all",)
        return any(s in wanted for s in states)
    if allow:
        return not any(s == "all" for s in states)
    return all(s == "none" for s in states)


# --- principals ---------------------------------------------------------------------------


def principal_matches(statement: dict[str, Any], request: dict[str, Any]) -> bool:
    """Principal: the caller is one of the listed. NotPrincipal: the caller is none of them."""
    listed = get(statement, "Principal")
    negated = listed is None
    if negated:
        listed = get(statement, "NotPrincipal")
    # (product rule) where the element restricts (a Deny's Principal, an Allow's
    # NotPrincipal) entries are read as narrowly as IAM could apply them
    restricting = (get(statement, "Effect") == "Deny") != negated
    entries: list[tuple[str, str]] = []
    if listed == "*":
        entries.append(("aws", "*"))
    else:
        for kind, values in listed.items():
            for v in as_list(values):
                entries.append((kind.lower(), v.strip()))
    hit = any(
        names_caller(kind, value, request, in_not_principal=negated, restricting=restricting)
        for kind, value in entries
    )
    return hit != negated


def names_caller(
    kind: str, value: str, request: dict[str, Any], *, in_not_principal: bool, restricting: bool
) -> bool:
    is_service = request.get("type") == "Service"
    if kind == "service":
        return is_service and request["principal"].lower() == value.lower()
    if kind != "aws":
        return False  # Federated / CanonicalUser principals never call KMS
    if value == "*":
        return True
    if "*" in value or "?" in value:
        # (product rule) IAM rejects wildcard principal ARNs: read as `*` where the entry
        # grants, as an ArnLike pattern where it restricts
        if not restricting:
            return True
        pattern = policy_value(value, {}, wildcards=True, variables=False) or []
        return not is_service and arn_like(pattern, request["principal"])
    if is_service:
        return False
    account = request.get("account")
    parts = value.split(":")
    if value.isdigit() and len(value) == 12:
        # a bare account id is the account root: every principal of the account, but in a
        # NotPrincipal list only the account itself (SPEC rule 3)
        return account == value and (not in_not_principal or request["type"] == "Account")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] not in ("iam", "sts"):
        return False  # unique ids (AROA..., AIDA...) of deleted principals, junk
    arn_account, resource = parts[4], parts[5]
    if parts[2] == "iam" and resource == "root":
        return account == arn_account and (not in_not_principal or request["type"] == "Account")
    if value == request["principal"]:
        return True  # the user or the role (a role ARN names all its sessions)
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        pieces = resource.split("/")
        if len(pieces) != 3 or request["type"] != "AssumedRole" or account != arn_account:
            return False
        role, session = pieces[1], pieces[2]
        if request["principal"].split("/")[-1] != role:
            return False
        if restricting:
            return request.get("session") == session
        # (product rule) granting: a session ARN grants the role's sessions; a request
        # whose session is unnamed (None) may be that one
        return request.get("session") in (None, session)
    return False


# --- conditions ---------------------------------------------------------------------------

#: operator (lower case, without IfExists) -> (kind of comparison, negated)
OPERATORS = {
    "stringequals": ("string", False),
    "stringnotequals": ("string", True),
    "stringequalsignorecase": ("string-ci", False),
    "stringnotequalsignorecase": ("string-ci", True),
    "stringlike": ("like", False),
    "stringnotlike": ("like", True),
    "arnequals": ("arn", False),
    "arnlike": ("arn", False),
    "arnnotequals": ("arn", True),
    "arnnotlike": ("arn", True),
    "numericequals": ("number=", False),
    "numericnotequals": ("number=", True),
    "numericlessthan": ("number<", False),
    "numericlessthanequals": ("number<=", False),
    "numericgreaterthan": ("number>", False),
    "numericgreaterthanequals": ("number>=", False),
    "dateequals": ("date=", False),
    "datenotequals": ("date=", True),
    "datelessthan": ("date<", False),
    "datelessthanequals": ("date<=", False),
    "dategreaterthan": ("date>", False),
    "dategreaterthanequals": ("date>=", False),
    "bool": ("bool", False),
    "binaryequals": ("binary", False),
    "ipaddress": ("ip", False),
    "notipaddress": ("ip", True),
}


def condition_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def conditions_hold(
    block: dict[str, Any], context: dict[str, list[str]], allow: bool, variables: bool
) -> bool:
    """Operators are ANDed, keys under one operator are ANDed."""
    for operator, keys in block.items():
        for key, values in keys.items():
            policy_values = [condition_text(v) for v in as_list(values)]
            if not one_condition(operator, key.lower(), policy_values, context, allow, variables):
                return False
    return True


def one_condition(
    operator: str,
    key: str,
    policy_values: list[str],
    context: dict[str, list[str]],
    allow: bool,
    variables: bool,
) -> bool:
    qualifier = ""
    name = operator
    if ":" in operator:
        qualifier, name = operator.split(":", 1)
        qualifier = qualifier.lower()
        if qualifier not in ("forallvalues", "foranyvalue"):
            return allow  # (product rule) unknown operator: the attacker's choice
    name = name.lower()
    if_exists = name.endswith("ifexists") and name != "ifexists"
    if if_exists:
        name = name[: -len("ifexists")]
    request_values = context.get(key, [])
    if name == "null" and not if_exists:
        # Null true: the key is absent; false: present. Several values are ORed.
        present = bool(request_values)
        return any((v.strip().lower() == "true") != present for v in policy_values)
    if name not in OPERATORS:
        return allow  # (product rule) unknown operator: the attacker's choice
    kind, negated = OPERATORS[name]
    if not request_values:
        # SPEC rule 7 (IAM User Guide, "Condition operators" and "Multivalued context keys")
        if if_exists:
            return True
        if qualifier == "forallvalues":
            return True
        if qualifier == "foranyvalue":
            return False
        return negated
    # for each request value: does it match any policy value?
    matched = [
        any(compare(kind, rv, pv, context, variables) for pv in policy_values)
        for rv in request_values
    ]
    if negated:
        matched = [not m for m in matched]  # ... matches none of them
    if qualifier == "forallvalues":
        return all(matched)
    if qualifier == "foranyvalue":
        return any(matched)
    # a plain operator on several values: some value matches / no value matches
    return all(matched) if negated else any(matched)


def compare(
    kind: str,
    request_value: str,
    policy_value_: str,
    context: dict[str, list[str]],
    variables: bool,
) -> bool:
    """One request value against one policy value, in the positive sense."""
    if kind in ("string", "string-ci", "like", "arn"):
        tokens = policy_value(
            policy_value_, context, wildcards=kind in ("like", "arn"), variables=variables
        )
        if tokens is None:
            return False  # an unresolvable variable matches nothing
        if kind == "string":
            return request_value == as_text(tokens)
        if kind == "string-ci":
            return request_value.lower() == as_text(tokens).lower()
        if kind == "like":
            return glob_match(tokens, request_value)
        return arn_like(tokens, request_value)
    if kind == "bool":
        return request_value.strip().lower() == policy_value_.strip().lower()
    if kind == "binary":
        return request_value == policy_value_
    if kind == "ip":
        try:
            address = ipaddress.ip_address(request_value.strip())
            network = ipaddress.ip_network(policy_value_.strip(), strict=False)
        except ValueError:
            return False
        # (product rule) IPv4 addresses live in IPv6 as ::ffff:a.b.c.d (IAM does not say)
        if address.version != network.version:
            mapped = ipaddress.ip_network("::ffff:0:0/96")
            if address.version == 4:
                address = ipaddress.ip_address(f"::ffff:{address}")
            elif address in mapped:
                address = ipaddress.ip_address(int(address) & 0xFFFFFFFF)  # the last 32 bits
            else:
                return False
        return address in network
    if kind.startswith("number"):
        a, b = number(request_value), number(policy_value_)
    else:
        a, b = date(request_value), date(policy_value_)
    if a is None or b is None:
        return False
    op = kind.removeprefix("number").removeprefix("date")
    return {"=": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def number(text: str) -> Decimal | None:
    """Digits with an optional sign, fraction and exponent; nothing else (no `Infinity`,
    `NaN`, `1_000`), and nothing beyond a double's range."""
    text = text.strip()
    if not text or any(ch not in "0123456789+-.eE" for ch in text):
        return None
    try:
        n = Decimal(text)
    except InvalidOperation:
        return None
    return n if n.is_finite() and math.isfinite(float(n)) else None


def date(text: str) -> Decimal | None:
    n = number(text)
    if n is not None:
        return n  # epoch seconds
    try:
        d = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return Decimal(str(d.timestamp()))
