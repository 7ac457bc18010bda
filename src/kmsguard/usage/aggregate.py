"""Streaming aggregation of KMS records into (key, caller, action, ...) groups.

Memory is bounded by the number of distinct groups and of cross-account identities, never by
the number of records. Partial aggregates from parallel workers merge with `merge`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .records import (
    KMS_SOURCE,
    KmsParams,
    Principal,
    PrincipalType,
    Record,
    arn_account,
    decode_identity,
    decode_params,
    decode_resources,
    identity_of,
    key_arns,
    key_matches,
    resolve_principal,
    via_service,
)

#: Distinct encryption-context values kept per (caller, context key); more -> "many".
MAX_CONTEXT_VALUES = 5


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to keep: a half-open `[since, until)` window on eventTime (ISO strings, compared
    as text, as CloudTrail writes them) and, optionally, only some keys (ARNs or key ids)."""

    since: str | None = None
    until: str | None = None
    keys: frozenset[str] = frozenset()


# (key_arn, principal, principal_type, account, principal_id, action, via_service,
#  vpc_endpoint, error_code, owner_copy, encryption-context keys)
GroupKey = tuple[
    str, str, PrincipalType, str | None, str | None, str, str | None, str | None, str | None,
    bool, tuple[str, ...],
]


@dataclass(slots=True)
class GroupStats:
    count: int
    first: str
    last: str
    context_values: dict[str, set[str]] = field(default_factory=dict)

    def add_context(self, context: dict[str, object]) -> None:
        for k, v in context.items():
            values = self.context_values.setdefault(k, set())
            if len(values) <= MAX_CONTEXT_VALUES:
                values.add(str(v))

    def merge(self, other: GroupStats) -> None:
        self.count += other.count
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        for k, vs in other.context_values.items():
            values = self.context_values.setdefault(k, set())
            for v in vs:
                if len(values) > MAX_CONTEXT_VALUES:
                    break
                values.add(v)


@dataclass(slots=True)
class Aggregate:
    """A partial or complete aggregation; picklable so workers can return it."""

    groups: dict[GroupKey, GroupStats] = field(default_factory=dict)
    identities: dict[str, Principal] = field(default_factory=dict)
    events_read: int = 0
    kms_events: int = 0
    files: int = 0
    first_event: str | None = None
    last_event: str | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: Aggregate) -> None:
        for gk, stats in other.groups.items():
            mine = self.groups.get(gk)
            if mine is None:
                self.groups[gk] = stats
            else:
                mine.merge(stats)
        for uid, p in other.identities.items():
            self.identities.setdefault(uid, p)
        self.events_read += other.events_read
        self.kms_events += other.kms_events
        self.files += other.files
        self.skipped.extend(other.skipped)
        if other.first_event is not None and (
            self.first_event is None or other.first_event < self.first_event
        ):
            self.first_event = other.first_event
        if other.last_event is not None and (
            self.last_event is None or other.last_event > self.last_event
        ):
            self.last_event = other.last_event

    def add_records(self, records: Iterable[Record], opts: ScanOptions) -> None:
        since, until, wanted = opts.since, opts.until, opts.keys
        groups = self.groups
        first, last = self.first_event, self.last_event
        read = kms = 0
        # identities and resource lists repeat: resolve each distinct raw JSON once
        idents, resources, vias = _IDENTITY_CACHE, _RESOURCE_CACHE, _VIA_CACHE
        if len(idents) > _CACHE_LIMIT:
            idents.clear()
        if len(resources) > _CACHE_LIMIT:
            resources.clear()
        if len(vias) > _CACHE_LIMIT:
            vias.clear()
        for rec in records:
            read += 1
            if rec.event_source != KMS_SOURCE:
                continue
            t = rec.event_time
            if t is None or (since is not None and t < since) or (until is not None and t >= until):
                continue
            kms += 1
            if first is None or t < first:
                first = t
            if last is None or t > last:
                last = t
            if rec.event_type is not None and rec.event_type != "AwsApiCall":
                continue  # KMS's own service events (RotateKey, DeleteKey...) have no caller
            params = decode_params(rec.request_parameters)
            raw_res = bytes(rec.resources)
            keys = resources.get(raw_res)
            if keys is None:
                keys = resources[raw_res] = _keys_with_accounts(
                    key_arns(decode_resources(rec.resources), None, None, None)
                )
            if not keys:  # no key resource: requestParameters.keyId, resolved
                keys = _keys_with_accounts(
                    key_arns([], params.key_id, rec.aws_region, rec.recipient_account_id)
                )
            if wanted:
                keys = [k for k in keys if key_matches(k[0], wanted)]
            if not keys:
                continue
            raw_ui = bytes(rec.user_identity)
            cached = idents.get(raw_ui)
            if cached is None:
                ui = decode_identity(rec.user_identity)
                cached = idents[raw_ui] = (
                    resolve_principal(ui, keys[0][2]),
                    ui.invoked_by if ui is not None else None,
                    identity_of(ui),
                )
            principal, invoked_by, ident = cached
            if principal is None:
                continue
            name, ptype, account, pid = principal
            via: str | None = None
            if ptype is not PrincipalType.SERVICE:
                via_key = (invoked_by, rec.source_ip, rec.aws_region)
                if via_key in vias:
                    via = vias[via_key]
                else:
                    via = vias[via_key] = via_service(*via_key)
            action = rec.event_name or "?"
            n_keys = len(keys)
            for i, (key, key_account, _) in enumerate(keys):
                owner_copy = rec.recipient_account_id in (None, key_account)
                if ident is not None and account != key_account and not owner_copy:
                    self.identities.setdefault(ident[0], ident[1])
                if action == "ReEncrypt":
                    act, context = _action_and_context(action, params, i, n_keys)
                else:
                    act = (action,)
                    ec = params.encryption_context
                    context = ec if isinstance(ec, dict) else {}
                ctx_keys = tuple(sorted(context)) if len(context) > 1 else tuple(context)
                for a in act:
                    gk: GroupKey = (
                        key, name, ptype, account, pid, a, via, rec.vpc_endpoint_id,
                        rec.error_code, owner_copy, ctx_keys,
                    )
                    stats = groups.get(gk)
                    if stats is None:
                        stats = groups[gk] = GroupStats(0, t, t)
                    stats.count += 1
                    if t < stats.first:
                        stats.first = t
                    elif t > stats.last:
                        stats.last = t
                    if context:
                        cv = stats.context_values
                        for ck, cval in context.items():
                            values = cv.get(ck)
                            if values is None:
                                cv[ck] = {cval if isinstance(cval, str) else str(cval)}
                            elif len(values) <= MAX_CONTEXT_VALUES:
                                values.add(cval if isinstance(cval, str) else str(cval))
        self.events_read += read
        self.kms_events += kms
        self.first_event, self.last_event = first, last


_CACHE_LIMIT = 50_000
KeyRef = tuple[str, str | None, str]  # key ARN, its account, its partition
_IDENTITY_CACHE: dict[bytes, tuple[Principal | None, str | None, tuple[str, Principal] | None]] = {}
_RESOURCE_CACHE: dict[bytes, list[KeyRef]] = {}
_VIA_CACHE: dict[tuple[str | None, str | None, str | None], str | None] = {}


def _keys_with_accounts(arns: list[str]) -> list[KeyRef]:
    return [(k, arn_account(k), k.split(":", 2)[1]) for k in arns]


def _action_and_context(
    action: str, params: KmsParams | Mapping[str, object], index: int, n_keys: int
) -> tuple[tuple[str, ...], dict[str, object]]:
    """ReEncrypt is checked as kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the
    destination key, each with its own encryption context."""
    if isinstance(params, KmsParams):
        ctx = params.encryption_context
        src, dst = params.source_encryption_context, params.destination_encryption_context
    else:
        ctx = params.get("encryptionContext")
        src = params.get("sourceEncryptionContext")
        dst = params.get("destinationEncryptionContext")
    if action == "ReEncrypt":
        src_ctx: dict[str, object] = src if isinstance(src, dict) else {}
        dst_ctx: dict[str, object] = dst if isinstance(dst, dict) else {}
        if n_keys == 1:
            return ("ReEncryptFrom", "ReEncryptTo"), {**src_ctx, **dst_ctx}
        if index == 0:
            return ("ReEncryptFrom",), src_ctx
        return ("ReEncryptTo",), dst_ctx
    return (action,), ctx if isinstance(ctx, dict) else {}
