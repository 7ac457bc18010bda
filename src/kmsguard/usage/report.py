"""The usage report: who used each key, how, and whether from outside the zone of trust.

Built from an `Aggregate` (any engine); saved and loaded as JSON so `kmsguard fix plan --usage`
can replay the observed calls against a proposed policy."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from kmsguard import safeio
from kmsguard.errors import InputError
from kmsguard.model import SELF_ACCOUNT, PrincipalType, TrustZone

from .aggregate import MAX_CONTEXT_VALUES, Aggregate, GroupKey, GroupStats
from .records import DENIAL_CODES, arn_account

SCHEMA_VERSION = 1


class Evidence(StrEnum):
    """What calls from outside the zone of trust show."""

    IN_USE = "in-use"  # successful: the exposure is being used
    PROBING = "probing"  # only failed / denied attempts


@dataclass(frozen=True, slots=True)
class Window:
    since: str | None = None  # inclusive, ISO 8601 UTC
    until: str | None = None  # exclusive
    first_event: str | None = None
    last_event: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "first_event": self.first_event,
            "last_event": self.last_event,
        }


@dataclass(frozen=True, slots=True)
class ContextKey:
    """An encryption-context key seen in a caller's successful calls; `values` is None when
    more than MAX_CONTEXT_VALUES distinct values were seen."""

    key: str
    values: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class RequestShape:
    """One distinct successful request context, ready to replay against a policy."""

    action: str  # eventName (ReEncrypt split into ReEncryptFrom / ReEncryptTo)
    via_service: str | None  # kms:ViaService form, e.g. s3.us-east-1.amazonaws.com
    vpc_endpoint: str | None  # aws:SourceVpce
    encryption_context_keys: tuple[str, ...]
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "via_service": self.via_service,
            "vpc_endpoint": self.vpc_endpoint,
            "encryption_context_keys": list(self.encryption_context_keys),
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class Caller:
    principal: str  # as a key policy names it: role/user/root ARN or service principal
    principal_type: PrincipalType
    account: str | None  # None for service principals
    principal_id: str | None  # unique id (AROA.../AIDA...) when known
    actions: tuple[tuple[str, int], ...]  # successful calls per action
    denied: tuple[tuple[str, int], ...]  # access-denied calls per action
    errors: tuple[tuple[str, int], ...]  # failed calls per errorCode (denials included)
    via_services: tuple[str, ...]
    vpc_endpoints: tuple[str, ...]
    encryption_context: tuple[ContextKey, ...]
    requests: tuple[RequestShape, ...]
    first_seen: str
    last_seen: str
    outside_zone: bool
    org_id: str | None = None  # not recorded by CloudTrail

    @property
    def count(self) -> int:
        return sum(n for _, n in self.actions)

    @property
    def evidence(self) -> Evidence | None:
        if not self.outside_zone:
            return None
        return Evidence.IN_USE if self.actions else Evidence.PROBING

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "principal_type": str(self.principal_type),
            "account": self.account,
            "principal_id": self.principal_id,
            "org_id": self.org_id,
            "count": self.count,
            "actions": dict(self.actions),
            "via_services": list(self.via_services),
            "vpc_endpoints": list(self.vpc_endpoints),
            "encryption_context": {
                c.key: (list(c.values) if c.values is not None else None)
                for c in self.encryption_context
            },
            "requests": [r.to_json() for r in self.requests],
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "denied": dict(self.denied),
            "errors": dict(self.errors),
            "outside_zone": self.outside_zone,
            "evidence": str(self.evidence) if self.evidence else None,
        }


@dataclass(frozen=True, slots=True)
class KeyUsage:
    key_arn: str
    callers: tuple[Caller, ...]

    @property
    def unused(self) -> bool:
        return not any(c.actions for c in self.callers)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_arn": self.key_arn,
            "unused": self.unused,
            "calls": sum(c.count for c in self.callers),
            "outside_zone_callers": sum(1 for c in self.callers if c.outside_zone),
            "callers": [c.to_json() for c in self.callers],
        }


@dataclass(frozen=True, slots=True)
class SkippedFile:
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    window: Window
    events_read: int
    kms_events: int
    files: int
    keys: tuple[KeyUsage, ...]
    skipped: tuple[SkippedFile, ...] = ()
    engine: str = "fast"
    zone_accounts: tuple[str, ...] = field(default=())
    input_errors: tuple[str, ...] = ()  # SOURCEs that could not be read at all

    @property
    def incomplete(self) -> bool:
        return bool(self.skipped)

    def with_known_keys(self, arns: Iterable[str]) -> UsageReport:
        """The report with every key of `arns` listed; those without calls appear unused."""
        have = {k.key_arn for k in self.keys}
        extra = [KeyUsage(a, ()) for a in sorted(set(arns) - have)]
        if not extra:
            return self
        keys = tuple(sorted((*self.keys, *extra), key=lambda k: k.key_arn))
        return replace(self, keys=keys)

    def key(self, arn: str) -> KeyUsage | None:
        return next((k for k in self.keys if k.key_arn == arn), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "version": SCHEMA_VERSION,  # the name before schema_version; the same number
            "engine": self.engine,
            "window": self.window.to_json(),
            "zone_accounts": list(self.zone_accounts),
            "events_read": self.events_read,
            "kms_events": self.kms_events,
            "files": self.files,
            "skipped_files": len(self.skipped),
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
            **({"input_errors": list(self.input_errors)} if self.input_errors else {}),
            "keys": [k.to_json() for k in self.keys],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def load(cls, path: Path) -> UsageReport:
        """Read a report saved with `kmsguard usage --format json -o FILE`."""
        try:
            text = safeio.read_text(path, 512 * 1024 * 1024)
        except OSError as exc:
            raise InputError(f"cannot read `{path}`: {exc.strerror or exc}") from None
        return cls.from_json(text)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> UsageReport:
        """Load a report saved with `to_json` (or `kmsguard usage --format json`)."""
        try:
            data = text if isinstance(text, dict) else json.loads(text)
            return _report_from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"not a kmsguard usage report: {exc}",
                hint="create one with `kmsguard usage SOURCE... --format json`",
            ) from None


def _pairs(d: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(k), int(v)) for k, v in d.items()))


def _caller_from_dict(c: dict[str, Any]) -> Caller:
    ctx = c.get("encryption_context") or {}
    return Caller(
        principal=c["principal"],
        principal_type=PrincipalType(c["principal_type"]),
        account=c.get("account"),
        principal_id=c.get("principal_id"),
        org_id=c.get("org_id"),
        actions=_pairs(c.get("actions") or {}),
        denied=_pairs(c.get("denied") or {}),
        errors=_pairs(c.get("errors") or {}),
        via_services=tuple(c.get("via_services") or ()),
        vpc_endpoints=tuple(c.get("vpc_endpoints") or ()),
        encryption_context=tuple(
            ContextKey(k, tuple(v) if v is not None else None) for k, v in sorted(ctx.items())
        ),
        requests=tuple(
            RequestShape(
                action=r["action"],
                via_service=r.get("via_service"),
                vpc_endpoint=r.get("vpc_endpoint"),
                encryption_context_keys=tuple(r.get("encryption_context_keys") or ()),
                count=int(r.get("count", 0)),
            )
            for r in c.get("requests") or ()
        ),
        first_seen=c["first_seen"],
        last_seen=c["last_seen"],
        outside_zone=bool(c["outside_zone"]),
    )


def _report_from_dict(data: dict[str, Any]) -> UsageReport:
    w = data.get("window") or {}
    return UsageReport(
        window=Window(w.get("since"), w.get("until"), w.get("first_event"), w.get("last_event")),
        events_read=int(data["events_read"]),
        kms_events=int(data["kms_events"]),
        files=int(data["files"]),
        keys=tuple(
            KeyUsage(k["key_arn"], tuple(_caller_from_dict(c) for c in k["callers"]))
            for k in data["keys"]
        ),
        skipped=tuple(SkippedFile(s["name"], s["reason"]) for s in data.get("skipped") or ()),
        engine=str(data.get("engine", "fast")),
        zone_accounts=tuple(data.get("zone_accounts") or ()),
    )


# ---------------------------------------------------------------------------------------------
# building


# key, principal, type, account, and the unique id for callers known only by account
CallerKey = tuple[str, str, PrincipalType, str | None, str | None]
# a group without the copy flag: (key, principal, type, account, pid, action, via, vpce,
# error, context keys)
Collapsed = tuple[
    str, str, PrincipalType, str | None, str | None, str, str | None, str | None, str | None,
    tuple[str, ...],
]


def _resolve(gk: GroupKey, identities: dict[str, Any]) -> Collapsed:
    key, name, ptype, account, pid, action, via, vpce, err, _owner, ctx = gk
    if ptype is PrincipalType.ACCOUNT and pid is not None and pid in identities:
        # joined with the caller's own copy of a cross-account call (same principalId)
        name, ptype, account, pid = identities[pid]
    return (key, name, ptype, account, pid, action, via, vpce, err, ctx)


def build_report(
    agg: Aggregate,
    zone: TrustZone,
    *,
    since: str | None = None,
    until: str | None = None,
    requested_keys: tuple[str, ...] = (),
    engine: str = "fast",
) -> UsageReport:
    """Resolve cross-account callers, count each call once (a cross-account call delivered to
    both accounts counts once: the larger of the two copies' counts), and judge the zone."""
    copies: dict[Collapsed, dict[bool, GroupStats]] = defaultdict(dict)
    for gk, stats in agg.groups.items():
        col = _resolve(gk, agg.identities)
        slot = copies[col]
        owner = gk[9]
        if owner in slot:
            slot[owner].merge(stats)
        else:
            slot[owner] = GroupStats(
                stats.count, stats.first, stats.last, dict(stats.context_values)
            )

    by_caller: dict[CallerKey, list[tuple[Collapsed, GroupStats]]] = defaultdict(list)
    for col, slot in copies.items():
        merged: GroupStats | None = None
        for stats in slot.values():
            if merged is None:
                merged = GroupStats(stats.count, stats.first, stats.last, {})
            else:
                merged.count = max(merged.count, stats.count)
                merged.first = min(merged.first, stats.first)
                merged.last = max(merged.last, stats.last)
            for k, vs in stats.context_values.items():
                merged.context_values.setdefault(k, set()).update(vs)
        assert merged is not None
        split = col[4] if col[2] is PrincipalType.ACCOUNT else None
        by_caller[(col[0], col[1], col[2], col[3], split)].append((col, merged))

    keys: dict[str, list[Caller]] = defaultdict(list)
    for (key, name, ptype, account, _), groups in by_caller.items():
        keys[key].append(_caller(name, ptype, account, groups, zone, arn_account(key)))
    for wanted in requested_keys:
        if not any(k == wanted or k.rsplit("/", 1)[-1] == wanted for k in keys):
            keys[wanted] = []
    return UsageReport(
        window=Window(since, until, agg.first_event, agg.last_event),
        events_read=agg.events_read,
        kms_events=agg.kms_events,
        files=agg.files,
        keys=tuple(
            KeyUsage(k, tuple(sorted(cs, key=lambda c: (-c.count, c.principal))))
            for k, cs in sorted(keys.items())
        ),
        skipped=tuple(SkippedFile(n, r) for n, r in sorted(agg.skipped)),
        engine=engine,
        # plus, for each key, its own account
        zone_accounts=tuple(sorted(zone.accounts - {SELF_ACCOUNT})),
    )


def _caller(
    name: str,
    ptype: PrincipalType,
    account: str | None,
    groups: list[tuple[Collapsed, GroupStats]],
    zone: TrustZone,
    key_account: str | None,
) -> Caller:
    actions: dict[str, int] = defaultdict(int)
    denied: dict[str, int] = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    vias: set[str] = set()
    vpces: set[str] = set()
    context: dict[str, set[str]] = {}
    requests: dict[tuple[str, str | None, str | None, tuple[str, ...]], int] = defaultdict(int)
    pids: set[str] = set()
    first = min(s.first for _, s in groups)
    last = max(s.last for _, s in groups)
    for col, stats in groups:
        _, _, _, _, pid, action, via, vpce, err, ctx_keys = col
        if pid:
            pids.add(pid)
        if via:
            vias.add(via)
        if vpce:
            vpces.add(vpce)
        if err is None:
            actions[action] += stats.count
            requests[(action, via, vpce, ctx_keys)] += stats.count
            for k, vs in stats.context_values.items():
                context.setdefault(k, set()).update(vs)
        else:
            errors[err] += stats.count
            if err in DENIAL_CODES:
                denied[action] += stats.count
    return Caller(
        principal=name,
        principal_type=ptype,
        account=account,
        principal_id=min(pids) if pids else None,
        actions=tuple(sorted(actions.items())),
        denied=tuple(sorted(denied.items())),
        errors=tuple(sorted(errors.items())),
        via_services=tuple(sorted(vias)),
        vpc_endpoints=tuple(sorted(vpces)),
        encryption_context=tuple(
            ContextKey(k, tuple(sorted(vs)) if len(vs) <= MAX_CONTEXT_VALUES else None)
            for k, vs in sorted(context.items())
        ),
        requests=tuple(
            RequestShape(a, v, e, c, n)
            for (a, v, e, c), n in sorted(requests.items(), key=_request_order)
        ),
        first_seen=first,
        last_seen=last,
        # the key's own account is always inside (its policy's root statement delegates to it)
        outside_zone=(
            account is not None and account != key_account and not zone.contains_account(account)
        ),
    )


def _request_order(
    item: tuple[tuple[str, str | None, str | None, tuple[str, ...]], int],
) -> tuple[str, str, str, tuple[str, ...]]:
    (a, v, e, c), _ = item
    return (a, v or "", e or "", c)
