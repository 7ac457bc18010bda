"""Property: for generated key policies and generated usage, the planner's replacement passes
the independent verifier (and a plan is offered only when it does)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsguard.fix.planning import make_offer, with_owner_org
from kmsguard.model import TrustZone
from kmsguard.policy import evaluate, parse_policy
from kmsguard.policy.evaluator import Request
from kmsguard.policy.remediation import ObservedCaller, Strategy, plan_remediation, verify
from kmsguard.policy.remediation.plan_support import replay_requests

OWN = "111122223333"
TRUSTED = "210987654321"
EXTERNAL = ("444455556666", "777788889999")
ORG = "o-abcdef1234"
ZONE = TrustZone(account=OWN, trusted_accounts=frozenset({TRUSTED}))
ORG_ZONE = TrustZone(
    account=OWN, trusted_accounts=frozenset({TRUSTED}), trusted_orgs=frozenset({ORG})
)

USE_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Sign",
)
ACTION_PATTERNS = (*USE_ACTIONS, "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:Describe*")
VIA = ("s3.us-east-1.amazonaws.com", "ec2.us-east-1.amazonaws.com")
SERVICES = ("cloudtrail.amazonaws.com", "logs.amazonaws.com")


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


ROLES = tuple(role(a, n) for a in (OWN, TRUSTED, *EXTERNAL) for n in ("app", "batch"))

conditions = st.one_of(
    st.none(),
    st.sampled_from(VIA).map(lambda v: {"StringEquals": {"kms:ViaService": v}}),
    st.just({"Bool": {"aws:SecureTransport": "true"}}),
    st.just({"StringEquals": {"kms:CallerAccount": [OWN, EXTERNAL[0]]}}),
    st.just({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app"}}),
    st.just({"StringEquals": {"kms:EncryptionContext:app": "orders"}}),
)

principals = st.one_of(
    st.just("*"),
    st.just({"AWS": "*"}),
    st.sampled_from(EXTERNAL).map(lambda a: {"AWS": f"arn:aws:iam::{a}:root"}),
    st.lists(st.sampled_from(ROLES), min_size=1, max_size=3, unique=True).map(
        lambda rs: {"AWS": rs}
    ),
    st.sampled_from(SERVICES).map(lambda s: {"Service": s}),
)


@st.composite
def allow_statements(draw: st.DrawFn) -> dict[str, Any]:
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": draw(principals),
        "Action": draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=4,
                                unique=True)),
        "Resource": "*",
    }
    if draw(st.booleans()):
        stmt["Sid"] = draw(st.sampled_from(("Use", "KeyUse", "Partner", "Svc")))
    cond = draw(conditions)
    if cond is not None:
        stmt["Condition"] = cond
    return stmt


DENY_GUARDS = (
    {"Sid": "NoDeletion", "Effect": "Deny", "Principal": "*",
     "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
    {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "NoExternalSign", "Effect": "Deny", "Principal": "*", "Action": "kms:Sign",
     "Resource": "*", "Condition": {"StringNotEquals": {"kms:CallerAccount": OWN}}},
)

ADMIN = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{OWN}:root"}, "Action": "kms:*", "Resource": "*"}
NAMED_ADMIN = {"Sid": "KeyAdmins", "Effect": "Allow", "Principal": {"AWS": role(OWN, "admin")},
               "Action": ["kms:PutKeyPolicy", "kms:Describe*", "kms:Get*"], "Resource": "*"}


@st.composite
def policies(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """(policy, has an admin statement outside the generated allows)."""
    admin = draw(st.booleans())
    named_admin = draw(st.booleans())
    stmts: list[dict[str, Any]] = []
    if admin:
        stmts.append(ADMIN)
    if named_admin:
        stmts.append(NAMED_ADMIN)
    stmts.extend(draw(st.lists(allow_statements(), min_size=1, max_size=3)))
    stmts.extend(draw(st.lists(st.sampled_from(DENY_GUARDS), max_size=2, unique_by=id)))
    order = draw(st.permutations(range(len(stmts))))
    return {"Version": "2012-10-17", "Statement": [stmts[i] for i in order]}, admin or named_admin


@st.composite
def callers(draw: st.DrawFn) -> tuple[ObservedCaller, ...]:
    out: list[ObservedCaller] = []
    for principal in draw(st.lists(st.sampled_from(ROLES + SERVICES), max_size=5, unique=True)):
        acts = draw(st.lists(st.sampled_from(USE_ACTIONS), min_size=1, max_size=3, unique=True))
        counts = draw(st.lists(st.integers(1, 50), min_size=len(acts), max_size=len(acts)))
        is_service = principal in SERVICES
        out.append(
            ObservedCaller(
                principal=principal,
                account=OWN if is_service else principal.split(":")[4],
                actions=tuple(sorted(zip(acts, counts, strict=True))),
                principal_type="AWSService" if is_service else "AssumedRole",
                via_services=tuple(draw(st.lists(st.sampled_from(VIA), max_size=2, unique=True))),
                # encryption context is in the evidence only sometimes
                context=draw(st.sampled_from(((), (("kms:EncryptionContext:app", ("orders",)),)))),
            )
        )
    return tuple(out)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    generated=policies(),
    observed=callers(),
    strategy=st.sampled_from(list(Strategy)),
    keep=st.sets(st.sampled_from(EXTERNAL), max_size=1),
)
def test_every_plan_passes_the_independent_verifier(
    generated: tuple[dict[str, Any], bool],
    observed: tuple[ObservedCaller, ...],
    strategy: Strategy,
    keep: set[str],
) -> None:
    policy, has_admin = generated
    text = json.dumps(policy)
    keep_external = frozenset(keep)
    org = ORG if strategy is Strategy.ORG else None
    zone = ORG_ZONE if org else ZONE
    observed = with_owner_org(observed, OWN, org)
    plan = plan_remediation(
        text, observed, zone, key_account=OWN, strategy=strategy, keep_external=keep_external,
        org_id=org,
    )
    result = verify(
        text, plan.new_policy, observed, zone, key_account=OWN, keep_external=keep_external
    )
    failed = {c.name: c.detail for c in result.checks if not c.ok}
    # a plan may only be refused for lockout, and only when the policy had no admin
    # statement of its own (the exposing statement was the only way to manage the key);
    # a policy left with no statement at all is malformed (KMS rejects it too)
    allowed = {"lockout"}
    if not json.loads(plan.new_policy)["Statement"]:
        allowed.add("well-formed")
    assert set(failed) <= allowed, (failed, plan.new_policy)
    if has_admin:
        assert not failed, (failed, plan.new_policy)

    # the new policy never allows what the old one did not
    if not json.loads(plan.new_policy)["Statement"]:
        return  # refused above as malformed; it allows nothing anyway
    old_p, new_p = parse_policy(text), parse_policy(plan.new_policy)
    probes = [r for c in observed for a in (*USE_ACTIONS, "kms:PutKeyPolicy")
              for r in replay_requests(c, a)]
    probes += [
        Request(principal=role(a, "intruder"), account=a, action=act)
        for a in (OWN, EXTERNAL[1]) for act in ("kms:Decrypt", "kms:PutKeyPolicy")
    ]
    for r in probes:
        if evaluate(new_p, r, key_account=OWN).allowed:
            assert evaluate(old_p, r, key_account=OWN).allowed, (r, plan.new_policy)

    offer = make_offer(
        text, observed, zone, key_account=OWN, strategy=strategy, keep_external=keep_external,
        source="generated", org_id=org,
    )
    assert offer.offered == (offer.plan.changed and offer.verification.ok)
    if offer.offered:
        again = verify(
            text, offer.plan.new_policy, observed, zone, key_account=OWN,
            keep_external=keep_external,
        )
        assert again.ok
