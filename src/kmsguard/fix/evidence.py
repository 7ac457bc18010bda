"""Reading usage evidence for one key: a `kmsguard usage --format json` report (or any JSON
of the same shape) or CloudTrail logs read through `kmsguard.usage`, as `ObservedCaller`s."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kmsguard import safeio
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

#: a usage window shorter than this misses monthly jobs (warned about)
MIN_WINDOW = timedelta(days=30)
#: a window ending longer ago than this misses recent callers (warned about)
MAX_STALENESS = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class UsageEvidence:
    key_arn: str | None
    callers: tuple[ObservedCaller, ...]
    window: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    source: str = "the usage report"
    events_read: int | None = None  # CloudTrail events read in the window (all keys)
    key_events: int = 0  # events recorded for this key

    @property
    def empty(self) -> bool:
        """No event for this key: nothing tells who relies on it."""
        return self.key_events == 0

    def describe_window(self) -> str:
        w = self.window
        since = w.get("since") or w.get("first_event") or "the first log"
        until = w.get("until") or w.get("last_event") or "the last log"
        return f"{since} to {until}"

    def summary(self) -> str:
        read = (
            f", {self.events_read} CloudTrail events read" if self.events_read is not None else ""
        )
        return (
            f"{self.key_events} events for this key in {self.source}, "
            f"window {self.describe_window()}{read}"
        )

    def window_warnings(self, now: datetime | None = None) -> tuple[str, ...]:
        """A short or old window misses callers the plan would lock out."""
        now = now or datetime.now(UTC)
        start = _when(self.window.get("since")) or _when(self.window.get("first_event"))
        end = _when(self.window.get("until")) or _when(self.window.get("last_event"))
        out: list[str] = []
        if start is not None and end is not None and end - start < MIN_WINDOW:
            days = (end - start).total_seconds() / 86400
            out.append(
                f"the usage window covers {days:.1f} days (< 30): callers that run monthly "
                "or less often are not in it and would lose access"
            )
        if end is not None and now - end > MAX_STALENESS:
            out.append(
                f"the usage window ends {end:%Y-%m-%d %H:%M} UTC, more than a day ago: "
                "callers added since then are not in it"
            )
        return tuple(out)

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "window": dict(self.window),
            "events_read": self.events_read,
            "key_events": self.key_events,
            "warnings": list(self.window_warnings()),
        }


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def load_usage_file(
    path: Path, key: str | None, *, key_account: str, allow_missing: bool = False
) -> UsageEvidence:
    try:
        data = json.loads(safeio.read_text(path, 512 * 1024 * 1024))
    except OSError as exc:
        raise InputError(f"cannot read `{path}`: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(
            f"`{path}` is not JSON: {exc}",
            hint="create it with `kmsguard usage SOURCE... --format json`",
        ) from exc
    return usage_evidence(
        data, key, key_account=key_account, source=f"`{path}`", allow_missing=allow_missing
    )


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
        source="the CloudTrail logs " + ", ".join(f"`{s}`" for s in sources),
        allow_missing=True,
        events_read=report.events_read,
        calls={k.key_arn: sum(c.count for c in k.callers) for k in report.keys},
    )
    if report.incomplete:
        names = ", ".join(s.name for s in report.skipped[:3])
        return replace(
            evidence,
            warnings=(
                *evidence.warnings,
                f"{len(report.skipped)} log file(s) could not be read: {names}",
            ),
        )
    return evidence


def _key_matches(arn: str, key: str) -> bool:
    """A key ARN matches itself, and its key id (`1234abcd-...` or `mrk-...`)."""
    return arn == key or (not key.startswith("arn:") and arn.endswith(f":key/{key}"))


def usage_evidence(
    data: Any,
    key: str | None,
    *,
    key_account: str,
    source: str = "the usage report",
    allow_missing: bool = False,
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
    events_read = data.get("events_read")
    calls = {
        str(k.get("key_arn") or ""): (
            k["calls"]
            if isinstance(k.get("calls"), int)
            else sum(_events(c) for c in k.get("callers") or [] if isinstance(c, Mapping))
        )
        for k in data["keys"]
        if isinstance(k, Mapping)
    }
    return _evidence(
        keys,
        window or {},
        key,
        key_account=key_account,
        source=source,
        allow_missing=allow_missing,
        events_read=events_read if isinstance(events_read, int) else None,
        calls=calls,
    )


def _events(raw: Mapping[str, Any]) -> int:
    """A caller's recorded events: its count, else the sum of its action counts."""
    count = raw.get("count")
    if isinstance(count, int):
        return count
    actions = raw.get("actions") or {}
    if isinstance(actions, Mapping):
        return sum(n for n in actions.values() if isinstance(n, int))
    return len(actions) if isinstance(actions, list) else 0


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
    allow_missing: bool = False,
    events_read: int | None = None,
    calls: Mapping[str, int] | None = None,
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
        if chosen is None and not allow_missing:
            since = window.get("since") or window.get("first_event") or "the first log"
            until = window.get("until") or window.get("last_event") or "the last log"
            raise InputError(
                f"no usage evidence: {source} has no usage of `{key}` in the window "
                f"{since} to {until}",
                hint="an unused key has nothing to keep: check the key, or the log window; "
                "pass --allow-no-usage to plan anyway",
            )
    if chosen is None:
        return UsageEvidence(None, (), window, source=source, events_read=events_read)
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
        source=source,
        events_read=events_read,
        key_events=(calls or {}).get(key_arn, 0),
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
