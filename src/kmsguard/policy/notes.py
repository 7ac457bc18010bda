"""What a policy says beside the exposure question: service principals that could act for
another account (confused deputy), principals written as unique ids (a deleted role or
user), and condition keys kmsguard does not know."""

from __future__ import annotations

import re
from collections.abc import Sequence

from kmsguard.model import Exposure, ExposureKind, Severity, TrustZone

from . import actions as kms_actions
from .document import Comparator, Policy, Statement
from .keys import is_known
from .principals import read_aws_principal

_UNIQUE_ID = re.compile(r"^A(IDA|ROA|IPA|NPA|NVA|GPA|SIA)[A-Z0-9]{12,}$")
_SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths")


def confused_deputies(allows: Sequence[Statement], zone: TrustZone) -> list[Exposure]:
    """An Allow to a service principal with nothing that pins the resource's account."""
    out: list[Exposure] = []
    for s in allows:
        services = [e.value for e in s.principals if e.kind == "Service"]
        if s.not_principal or not services:
            continue
        pinned = any(
            c.key in _SOURCE_KEYS
            or (
                c.key.startswith("kms:encryptioncontext:")
                and any(a in v for v in c.values for a in zone.accounts)
            )
            for c in s.conditions
            if not c.negated and not c.if_exists and c.comparator is not Comparator.NULL
        )
        acts = kms_actions.expand_action_patterns(list(s.actions))
        if s.not_action:
            acts = tuple(a for a in kms_actions.KMS_ACTIONS if a not in acts)
        if pinned or not acts:
            continue
        out.append(
            Exposure(
                kind=ExposureKind.CONFUSED_DEPUTY,
                severity=Severity.INFO,
                actions=acts,
                principals=tuple(services),
                statements=(s.label,),
                witness=None,
                notes=(
                    "service principal without aws:SourceAccount / aws:SourceArn: the "
                    "service could use the key on behalf of another account's resource",
                ),
            )
        )
    return out


def principal_notes(policy: Policy) -> list[str]:
    """A note for each AWS principal that is not an account or an IAM/STS ARN."""
    notes: list[str] = []
    for s in policy.statements:
        for e in s.principals:
            if e.kind != "AWS" or read_aws_principal(e.value).kind != "unknown":
                continue
            if _UNIQUE_ID.match(e.value):
                notes.append(
                    f"statement {s.label}: principal `{e.value}` is a unique id, which AWS "
                    "writes in place of a role or user that was deleted; it matches no current "
                    "principal (a new one with the same name gets a new id), so the "
                    "statement grants nothing to it: remove it, or name the new ARN"
                )
            else:
                notes.append(
                    f"statement {s.label}: principal `{e.value}` is not an account, an "
                    "IAM/STS ARN or a unique id; it matches no caller"
                )
    return notes


def unknown_key_notes(policy: Policy) -> list[str]:
    return [
        f"condition key `{c.key_as_written}` is not known to kmsguard; "
        "assumed to be set freely by an attacker"
        for s in policy.statements
        for c in s.conditions
        if not is_known(c.key)
    ]
