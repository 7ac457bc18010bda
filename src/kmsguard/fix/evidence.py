"""Reading usage evidence for one key: a `kmsguard usage --format json` report (or any JSON
of the same shape) or CloudTrail logs read through `kmsguard.usage`, as `ObservedCaller`s."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmsguard.errors import InputError
from kmsguard.model import PrincipalType, TrustZone
from kmsguard.policy.remediation.evidence import (
    ObservedCaller,
    ObservedRequest,
    normalize_principal,
    observed_actions,
)
from kmsguard.policy.remediation.plan_support import account_of_principal
from kmsguard.usage.report import Caller, ContextKey, RequestShape


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
    evidence = _evidence(
        [(k.key_arn, k.callers) for k in report.keys],
        report.window.to_json(),
        key,
        key_account=key_account,
        source="the CloudTrail logs",
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
    """The callers of one key in a usage report read from JSON (`key` None: the report's
    only key). Each caller is read into the usage analysis' own `Caller` type, leniently
    (hand-written files may leave out what the planner does not need)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise InputError(
            f"{source} is not a kmsguard usage report (no `keys` list)",
            hint="create it with `kmsguard usage SOURCE... --format json`",
        )
    keys = [
        (str(k.get("key_arn") or ""), _RawCallers(k.get("callers") or [], source, k.get("key_arn")))
        for k in data["keys"]
        if isinstance(k, Mapping)
    ]
    window = data.get("window") if isinstance(data.get("window"), Mapping) else {}
    return _evidence(keys, window or {}, key, key_account=key_account, source=source)


@dataclass(frozen=True, slots=True)
class _RawCallers:
    """The callers of one key as found in a JSON report, read when the key is chosen."""

    raw: Any
    source: str
    key_arn: Any

    def __iter__(self) -> Iterator[Caller]:
        for i, raw in enumerate(self.raw):
            try:
                yield _usage_caller(raw)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise InputError(f"{self.source}: caller #{i} of `{self.key_arn}`: {exc}") from exc


def _evidence(
    keys: Sequence[tuple[str, Iterable[Caller]]],
    window: Mapping[str, Any],
    key: str | None,
    *,
    key_account: str,
    source: str,
) -> UsageEvidence:
    if key is None:
        if len(keys) > 1:
            raise InputError(
                f"{source} covers {len(keys)} keys: which one is this policy's?",
                hint="pass --usage-key ARN",
            )
        chosen = keys[0] if keys else None
    else:
        chosen = next((k for k in keys if _key_matches(k[0], key)), None)
        if chosen is None:
            raise InputError(
                f"{source} has no usage of `{key}`",
                hint="an unused key has nothing to keep: check the key, or the log window",
            )
    if chosen is None:
        return UsageEvidence(None, (), window)
    key_arn, usage_callers = chosen
    callers: list[ObservedCaller] = []
    warnings: list[str] = []
    for i, usage_caller in enumerate(usage_callers):
        try:
            caller = observed_caller(usage_caller, key_account)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{source}: caller #{i} of `{key_arn}`: {exc}") from exc
        if isinstance(caller, str):
            warnings.append(caller)
        elif caller is not None:
            callers.append(caller)
    return UsageEvidence(
        key_arn or None,
        tuple(sorted(callers, key=lambda c: (c.account, c.principal))),
        window,
        tuple(warnings),
    )


def _usage_caller(raw: Mapping[str, Any]) -> Caller:
    """One caller of a JSON usage report as the usage analysis' `Caller`; only `principal`
    is required."""
    principal = str(raw["principal"])
    raw_type = raw.get("principal_type")
    actions = raw.get("actions") or {}
    pairs = actions.items() if isinstance(actions, Mapping) else ((a, 1) for a in actions)
    raw_ec = raw.get("encryption_context") or {}
    return Caller(
        principal=principal,
        principal_type=PrincipalType.read(
            str(raw_type) if raw_type else None, normalize_principal(principal)
        ),
        account=raw.get("account"),
        principal_id=raw.get("principal_id"),
        actions=tuple((str(name), int(count)) for name, count in pairs),
        denied=(),
        errors=(),
        via_services=tuple(str(v) for v in raw.get("via_services") or ()),
        vpc_endpoints=tuple(str(v) for v in raw.get("vpc_endpoints") or ()),
        encryption_context=tuple(
            ContextKey(str(k), tuple(str(v) for v in vals) if isinstance(vals, list) else None)
            for k, vals in (raw_ec.items() if isinstance(raw_ec, Mapping) else ())
        ),
        requests=tuple(
            RequestShape(
                action=str(shape["action"]),
                via_service=shape.get("via_service"),
                vpc_endpoint=shape.get("vpc_endpoint"),
                encryption_context_keys=tuple(
                    str(k) for k in shape.get("encryption_context_keys") or ()
                ),
                count=int(shape.get("count", 1)),
            )
            for shape in raw.get("requests") or []
        ),
        first_seen="",
        last_seen="",
        outside_zone=False,
        org_id=raw.get("org_id"),
    )


def observed_caller(caller: Caller, key_account: str) -> ObservedCaller | str | None:
    """A caller of the usage analysis as remediation evidence: None when it made no
    successful call (nothing to keep), a warning when it cannot be replayed."""
    principal = normalize_principal(caller.principal)
    ptype = PrincipalType.read(caller.principal_type, principal).condition_value
    actions: dict[str, int] = {}
    for name, count in caller.actions:
        if count <= 0:
            continue
        for action in observed_actions(name):
            actions[action] = actions.get(action, 0) + count
    if not actions:
        return None  # only denied or failed calls: nothing to keep
    account = caller.account or account_of_principal(principal)
    if ptype == PrincipalType.SERVICE.condition_value:
        account = account or key_account
    if not account:
        return f"caller `{principal}` has no account: not replayed"
    # only a value every call carried can be replayed as a fact
    ec = {
        f"kms:EncryptionContext:{c.key}": (c.values[0],)
        for c in caller.encryption_context
        if c.values is not None and len(c.values) == 1
    }
    requests: list[ObservedRequest] = []
    for shape in caller.requests:
        ec_keys = shape.encryption_context_keys
        ctx: list[tuple[str, tuple[str, ...]]] = []
        if ec_keys:
            ctx.append(("kms:EncryptionContextKeys", ec_keys))
            ctx.extend(
                (name, vals)
                for name, vals in sorted(ec.items())
                if name.split(":", 2)[2] in ec_keys
            )
        requests.extend(
            ObservedRequest(
                action=action,
                via_service=shape.via_service,
                vpc_endpoint=shape.vpc_endpoint,
                context=tuple(ctx),
                count=shape.count,
            )
            for action in observed_actions(shape.action)
        )
    return ObservedCaller(
        principal=principal,
        account=str(account),
        actions=tuple(sorted(actions.items())),
        principal_type=ptype,
        via_services=caller.via_services,
        vpc_endpoints=caller.vpc_endpoints,
        org_id=caller.org_id,
        context=tuple(sorted(ec.items())) if not requests else (),
        requests=tuple(requests),
    )
