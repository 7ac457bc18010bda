"""Reading usage evidence for one key: a `kmsguard usage --format json` report (or any JSON
of the same shape) or CloudTrail logs read through `kmsguard.usage`, as `ObservedCaller`s."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmsguard.errors import InputError
from kmsguard.model import TrustZone
from kmsguard.policy.remediation.evidence import (
    ObservedCaller,
    ObservedRequest,
    normalize_action,
    normalize_principal,
    normalize_principal_type,
)
from kmsguard.policy.remediation.verify import account_of_principal

#: principal_type values of the usage report -> aws:PrincipalType
_USAGE_TYPES = {
    "role": "AssumedRole",
    "iam-user": "User",
    "root": "Account",
    "account": "Account",  # an outside caller known only by its account
    "service": "AWSService",
}


@dataclass(frozen=True, slots=True)
class UsageEvidence:
    key_arn: str | None
    callers: tuple[ObservedCaller, ...]
    window: Mapping[str, Any]
    warnings: tuple[str, ...] = ()


def load_usage_file(path: Path, key: str | None, *, key_account: str) -> UsageEvidence:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read `{path}`: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(
            f"`{path}` is not JSON: {exc}",
            hint="create it with `kmsguard usage SOURCE... --format json`",
        ) from exc
    return usage_evidence(data, key, key_account=key_account, source=str(path))


def usage_from_cloudtrail(
    sources: Sequence[str],
    key: str | None,
    *,
    key_account: str,
    zone: TrustZone,
    since: str | None = None,
    until: str | None = None,
) -> UsageEvidence:
    """Read CloudTrail logs (local folders or s3:// URLs) with the usage analysis."""
    from kmsguard.usage.api import analyze_usage

    report = analyze_usage(
        [Path(s) if not s.startswith("s3://") else s for s in sources],
        zone=zone,
        since=since,
        until=until,
        keys=[key] if key else [],
    )
    evidence = usage_evidence(
        report.to_dict(), key, key_account=key_account, source="the CloudTrail logs"
    )
    if report.incomplete:
        names = ", ".join(s.name for s in report.skipped[:3])
        return UsageEvidence(
            evidence.key_arn,
            evidence.callers,
            evidence.window,
            (*evidence.warnings, f"{len(report.skipped)} log file(s) could not be read: {names}"),
        )
    return evidence


def _key_matches(arn: str, key: str) -> bool:
    """A key ARN matches itself, and its key id (`1234abcd-...` or `mrk-...`)."""
    return arn == key or (not key.startswith("arn:") and arn.endswith(f":key/{key}"))


def usage_evidence(
    data: Any, key: str | None, *, key_account: str, source: str = "the usage report"
) -> UsageEvidence:
    """The callers of one key in a usage report (`key` None: the report's only key)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise InputError(
            f"{source} is not a kmsguard usage report (no `keys` list)",
            hint="create it with `kmsguard usage SOURCE... --format json`",
        )
    keys = [k for k in data["keys"] if isinstance(k, Mapping)]
    window = data.get("window") if isinstance(data.get("window"), Mapping) else {}
    if key is None:
        if len(keys) > 1:
            raise InputError(
                f"{source} covers {len(keys)} keys: which one is this policy's?",
                hint="pass --usage-key ARN",
            )
        chosen = keys[0] if keys else None
    else:
        chosen = next((k for k in keys if _key_matches(str(k.get("key_arn", "")), key)), None)
        if chosen is None:
            raise InputError(
                f"{source} has no usage of `{key}`",
                hint="an unused key has nothing to keep: check the key, or the log window",
            )
    if chosen is None:
        return UsageEvidence(None, (), window or {})
    callers: list[ObservedCaller] = []
    warnings: list[str] = []
    for i, raw in enumerate(chosen.get("callers") or []):
        try:
            caller = _caller(raw, key_account)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{source}: caller #{i} of `{chosen.get('key_arn')}`: {exc}") from exc
        if isinstance(caller, str):
            warnings.append(caller)
        elif caller is not None:
            callers.append(caller)
    return UsageEvidence(
        str(chosen.get("key_arn")) if chosen.get("key_arn") else None,
        tuple(sorted(callers, key=lambda c: (c.account, c.principal))),
        window or {},
        tuple(warnings),
    )


def _actions(raw: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    items = raw.items() if isinstance(raw, Mapping) else ((a, 1) for a in raw or [])
    for name, count in items:
        n = int(count)
        if n <= 0:
            continue
        bare = str(name).split(":", 1)[-1]
        # CloudTrail's ReEncrypt event stands for both halves of the permission
        names = ["ReEncryptFrom", "ReEncryptTo"] if bare == "ReEncrypt" else [bare]
        for a in names:
            action = normalize_action(a)
            out[action] = out.get(action, 0) + n
    return out


def _caller(raw: Mapping[str, Any], key_account: str) -> ObservedCaller | str | None:
    principal = normalize_principal(str(raw["principal"]))
    raw_type = raw.get("principal_type")
    ptype = _USAGE_TYPES.get(str(raw_type)) or normalize_principal_type(
        str(raw_type) if raw_type else None, principal
    )
    actions = _actions(raw.get("actions") or {})
    if not actions:
        return None  # only denied or failed calls: nothing to keep
    account = raw.get("account") or account_of_principal(principal)
    if ptype == "AWSService":
        account = account or key_account
    if not account:
        return f"caller `{principal}` has no account: not replayed"
    ec: dict[str, tuple[str, ...]] = {}
    raw_ec = raw.get("encryption_context") or {}
    if isinstance(raw_ec, Mapping):
        for k, vals in raw_ec.items():
            # only a value every call carried can be replayed as a fact
            if isinstance(vals, list) and len(vals) == 1:
                ec[f"kms:EncryptionContext:{k}"] = (str(vals[0]),)
    requests: list[ObservedRequest] = []
    for shape in raw.get("requests") or []:
        bare = str(shape["action"]).split(":", 1)[-1]
        names = ["ReEncryptFrom", "ReEncryptTo"] if bare == "ReEncrypt" else [bare]
        ec_keys = tuple(str(k) for k in shape.get("encryption_context_keys") or ())
        ctx: list[tuple[str, tuple[str, ...]]] = []
        if ec_keys:
            ctx.append(("kms:EncryptionContextKeys", ec_keys))
            ctx.extend(
                (name, vals)
                for name, vals in sorted(ec.items())
                if name.split(":", 2)[2] in ec_keys
            )
        for name in names:
            requests.append(
                ObservedRequest(
                    action=normalize_action(name),
                    via_service=shape.get("via_service"),
                    vpc_endpoint=shape.get("vpc_endpoint"),
                    context=tuple(ctx),
                    count=int(shape.get("count", 1)),
                )
            )
    return ObservedCaller(
        principal=principal,
        account=str(account),
        actions=tuple(sorted(actions.items())),
        principal_type=ptype,
        via_services=tuple(str(v) for v in raw.get("via_services") or ()),
        vpc_endpoints=tuple(str(v) for v in raw.get("vpc_endpoints") or ()),
        org_id=raw.get("org_id"),
        context=tuple(sorted(ec.items())) if not requests else (),
        requests=tuple(requests),
    )
