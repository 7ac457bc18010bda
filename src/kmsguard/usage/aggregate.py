"""Streaming aggregation of KMS records into (key, caller, action, ...) groups.

Memory is bounded by the number of distinct groups and of cross-account identities, never by
the number of records. Partial aggregates from parallel workers merge with `merge`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from kmsguard.arn import partition_of
from kmsguard.model import PrincipalType

from .records import (
    KMS_SOURCE,
    NO_PARAMS,
    PARAMS_DECODER,
    KmsParams,
    Principal,
    Record,
    arn_account,
    decode_identity,
    decode_resources,
    identity_of,
    key_arns,
    key_matches,
    resolve_principal,
    via_service,
)

_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def canonical_time(value: object) -> str | None:
    """eventTime as `YYYY-MM-DDTHH:MM:SSZ` in UTC (whose text order is time order, so the
    window and first/last seen compare times), or None when it is not a time at all."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if _CANONICAL_TIME.match(value):
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Distinct encryption-context values kept per (caller, context key); more -> "many".
MAX_CONTEXT_VALUES = 5


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to keep: a half-open `[since, until)` window on eventTime (ISO strings, compared
    as text, as CloudTrail writes them) and, optionally, only some keys (ARNs or key ids)."""

    since: str | None = None
    until: str | None = None
    keys: frozenset[str] = frozenset()
    max_log_bytes: int = 256 * 1024 * 1024  # per file, once decompressed


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
    bad_times: int = 0  # KMS records whose eventTime is not a time: not counted
    bad_time_sample: str | None = None

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
        self.bad_times += other.bad_times
        self.bad_time_sample = self.bad_time_sample or other.bad_time_sample
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
        # (identity, resources) pairs repeat: resolve each distinct pair of raw JSON once
        callers, vias = _CALLER_CACHE, _VIA_CACHE
        if len(callers) > _CACHE_LIMIT:
            callers.clear()
        if len(vias) > _CACHE_LIMIT:
            vias.clear()
        decode = PARAMS_DECODER.decode
        for rec in records:
            read += 1
            if rec.event_source != KMS_SOURCE:
                continue
            t = canonical_time(rec.event_time)
            if t is None:  # a time that is not one: never a last_seen, never in a window
                self.bad_times += 1
                self.bad_time_sample = self.bad_time_sample or repr(rec.event_time)[:60]
                continue
            if (since is not None and t < since) or (until is not None and t >= until):
                continue
            kms += 1
            if first is None or t < first:
                first = t
            if last is None or t > last:
                last = t
            if rec.event_type is not None and rec.event_type != "AwsApiCall":
                continue  # KMS's own service events (RotateKey, DeleteKey...) have no caller
            try:
                params = decode(rec.request_parameters) or NO_PARAMS
            except msgspec.ValidationError:
                params = NO_PARAMS
            pair = (bytes(rec.user_identity), bytes(rec.resources))
            entry = callers.get(pair)
            if entry is None:
                entry = callers[pair] = _caller_entry(rec, None)
            if entry is _BY_KEY_ID:  # no key resource: requestParameters.keyId, resolved
                entry = _caller_entry(rec, params.key_id)
            if not entry:
                continue
            refs, invoked_by, is_service, ident = entry
            # ReEncrypt's source/destination roles come from the position among all its keys
            all_refs = refs
            if wanted:
                refs = [r for r in refs if key_matches(r[0], wanted)]
                if not refs:
                    continue
            via: str | None = None
            if not is_service:
                via_key = (invoked_by, rec.source_ip, rec.aws_region)
                if via_key in vias:
                    via = vias[via_key]
                else:
                    via = vias[via_key] = via_service(*via_key)
            action = rec.event_name or "?"
            recipient = rec.recipient_account_id
            if action == "ReEncrypt":
                self._add_reencrypt(all_refs, wanted, params, t, via, rec, ident)
                continue
            ec = params.encryption_context
            context = ec if type(ec) is dict and ec else None
            ctx_keys = (
                (tuple(sorted(context)) if len(context) > 1 else tuple(context)) if context else ()
            )
            vpce, error = rec.vpc_endpoint_id, rec.error_code
            for key, key_account, name, ptype, account, pid in refs:
                owner_copy = recipient is None or recipient == key_account
                if ident is not None and not owner_copy and account != key_account:
                    self.identities.setdefault(ident[0], ident[1])
                gk: GroupKey = (
                    key, name, ptype, account, pid, action, via, vpce, error, owner_copy,
                    ctx_keys,
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


    def _add_reencrypt(
        self,
        refs: list[KeyCaller],
        wanted: frozenset[str],
        params: KmsParams,
        t: str,
        via: str | None,
        rec: Record,
        ident: tuple[str, Principal] | None,
    ) -> None:
        """kms:ReEncryptFrom on the source key, kms:ReEncryptTo on the destination key, each
        with its own encryption context."""
        recipient = rec.recipient_account_id
        for i, (key, key_account, name, ptype, account, pid) in enumerate(refs):
            if wanted and not key_matches(key, wanted):
                continue
            owner_copy = recipient is None or recipient == key_account
            if ident is not None and not owner_copy and account != key_account:
                self.identities.setdefault(ident[0], ident[1])
            acts, context = _action_and_context("ReEncrypt", params, i, len(refs))
            for a in acts:
                gk: GroupKey = (
                    key, name, ptype, account, pid, a, via, rec.vpc_endpoint_id,
                    rec.error_code, owner_copy, tuple(sorted(context)),
                )
                one = GroupStats(1, t, t)
                if context:
                    one.add_context(context)
                mine = self.groups.get(gk)
                if mine is None:
                    self.groups[gk] = one
                else:
                    mine.merge(one)


# per key of a record: key ARN, key account, principal, type, account, unique id
KeyCaller = tuple[str, str | None, str, PrincipalType, str | None, str | None]
# (keys with the caller, invokedBy, caller is a service principal, identity for the join)
CallerEntry = tuple[list[KeyCaller], str | None, bool, tuple[str, Principal] | None]
_BY_KEY_ID: CallerEntry = ([], None, False, None)  # resolve per record from keyId


def _caller_entry(rec: Record, key_id: object) -> CallerEntry | None:
    """Normalize a record's identity and keys (once per distinct raw pair, see the cache;
    so the key filter is applied by the caller)."""
    if key_id is None:
        arns = key_arns(decode_resources(rec.resources), None, None, None)
        if not arns:
            return _BY_KEY_ID
    else:
        arns = key_arns([], key_id, rec.aws_region, rec.recipient_account_id)
    if not arns:
        return None
    ui = decode_identity(rec.user_identity)
    principal = resolve_principal(ui, partition_of(arns[0]))
    if principal is None or ui is None:
        return None
    name, ptype, account, pid = principal
    refs = [(a, arn_account(a), name, ptype, account, pid) for a in arns]
    return refs, ui.invoked_by, ptype is PrincipalType.SERVICE, identity_of(ui)


_CACHE_LIMIT = 50_000
_CALLER_CACHE: dict[tuple[bytes, bytes], CallerEntry | None] = {}
_VIA_CACHE: dict[tuple[str | None, str | None, str | None], str | None] = {}


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
