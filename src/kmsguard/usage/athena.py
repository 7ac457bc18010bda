"""The same aggregation on Amazon Athena (Trino), over the standard CloudTrail table
(`useridentity` struct, `resources` array of structs, `requestparameters` JSON string).

SQL only filters and groups on the raw identity fields; the result rows go through the same
normalization functions as the local engine (principal resolution, via-service, key ids,
ReEncrypt split), so both engines share one implementation of every rule."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmsguard.arn import partition_of
from kmsguard.errors import InputError, SourceError
from kmsguard.model import PrincipalType, TrustZone

from .aggregate import Aggregate, GroupStats, ScanOptions, _action_and_context
from .records import (
    Resource,
    SessionContext,
    SessionIssuer,
    UserIdentity,
    arn_account,
    identity_of,
    key_arns,
    key_matches,
    resolve_principal,
    via_service,
)
from .report import UsageReport, build_report
from .window import parse_when

if TYPE_CHECKING:
    from mypy_boto3_athena import AthenaClient

_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

#: Distinct encryption contexts sampled per group for their values.
CONTEXT_SAMPLES = 6

GROUP_COLUMNS = (
    "res_key1", "res_key2", "req_key_id", "awsregion", "recipientaccountid", "eventname",
    "errorcode", "vpcendpointid", "service_host", "ui_type", "ui_arn", "ui_account",
    "ui_invokedby", "ui_uid", "issuer_type", "issuer_arn", "issuer_pid", "issuer_account",
    "ctx_keys", "sctx_keys", "dctx_keys",
)
AGG_COLUMNS = ("n", "first_seen", "last_seen", "ctx_samples", "sctx_samples", "dctx_samples")


def _ctx(path: str, samples_as_json: bool) -> tuple[str, str]:
    extract = f"json_extract(requestparameters, '$.{path}')"
    keys = f"array_join(array_sort(map_keys(TRY_CAST({extract} AS MAP(VARCHAR, VARCHAR)))), ',')"
    samples = f"slice(array_agg(DISTINCT json_format({extract})), 1, {CONTEXT_SAMPLES})"
    if samples_as_json:
        # Athena returns every value as text, and `[a, b]` of JSON objects cannot be split
        # back reliably: render the array as JSON
        samples = f"json_format(CAST({samples} AS JSON))"
    return keys, samples


def _check_table(table: str) -> str:
    if not _TABLE_RE.match(table):
        raise InputError(
            f"`{table}` is not a table name", hint="use DATABASE.TABLE (letters, digits, _)"
        )
    return table


def _window_sql(since: str | None, until: str | None) -> str:
    parts = []
    for bound, op in ((since, ">="), (until, "<")):
        if bound is not None:
            if not _ISO_RE.match(bound):  # never inline anything but a normalized time
                raise InputError(f"`{bound}` is not a normalized time")
            parts.append(f"eventtime {op} '{bound}'")
    return "".join(f"\n    AND {p}" for p in parts)


def groups_sql(
    table: str,
    since: str | None = None,
    until: str | None = None,
    *,
    samples_as_json: bool = True,
) -> str:
    """One row per group of identical (key, identity, action, service, endpoint, error,
    context keys) calls, in Athena's (Trino) dialect."""
    ctx_keys, ctx_samples = _ctx("encryptionContext", samples_as_json)
    sctx_keys, sctx_samples = _ctx("sourceEncryptionContext", samples_as_json)
    dctx_keys, dctx_samples = _ctx("destinationEncryptionContext", samples_as_json)
    issuer = "useridentity.sessioncontext.sessionissuer"
    group_exprs = [
        "element_at(keyres, 1).arn",
        "element_at(keyres, 2).arn",
        "CASE WHEN coalesce(cardinality(keyres), 0) = 0 "
        "THEN json_extract_scalar(requestparameters, '$.keyId') END",
        "awsregion",
        "recipientaccountid",
        "eventname",
        "errorcode",
        "vpcendpointid",
        "CASE WHEN sourceipaddress LIKE '%.amazonaws.com' THEN sourceipaddress END",
        "useridentity.type",
        # session ARNs carry the session name: keep them only when there is no issuer
        f"CASE WHEN {issuer}.arn IS NULL THEN useridentity.arn END",
        "useridentity.accountid",
        "useridentity.invokedby",
        # the unique id behind a session (see records.unique_id)
        "CASE WHEN regexp_like(split_part(useridentity.principalid, ':', 1), '^[0-9]+$') "
        "THEN useridentity.principalid ELSE split_part(useridentity.principalid, ':', 1) END",
        f"{issuer}.type",
        f"{issuer}.arn",
        f"{issuer}.principalid",
        f"{issuer}.accountid",
        ctx_keys,
        sctx_keys,
        dctx_keys,
    ]
    select = [f"{e} AS {n}" for e, n in zip(group_exprs, GROUP_COLUMNS, strict=True)]
    select += [
        "count(*) AS n",
        "min(eventtime) AS first_seen",
        "max(eventtime) AS last_seen",
        f"{ctx_samples} AS ctx_samples",
        f"{sctx_samples} AS sctx_samples",
        f"{dctx_samples} AS dctx_samples",
    ]
    cols = ",\n  ".join(select)
    by = ", ".join(str(i) for i in range(1, len(GROUP_COLUMNS) + 1))
    return (
        "WITH kms AS (\n"
        "  SELECT eventtime, eventname, awsregion, errorcode, sourceipaddress,\n"
        "    recipientaccountid, vpcendpointid, useridentity, requestparameters,\n"
        "    filter(resources, r -> r.arn LIKE 'arn:%:kms:%:key/%') AS keyres\n"
        f"  FROM {_check_table(table)}\n"
        "  WHERE eventsource = 'kms.amazonaws.com'"
        f"{_window_sql(since, until)}\n"
        "    AND (eventtype IS NULL OR eventtype = 'AwsApiCall')\n"
        ")\n"
        f"SELECT\n  {cols}\nFROM kms\nGROUP BY {by}"
    )


def totals_sql(table: str, since: str | None = None, until: str | None = None) -> str:
    """Records in the window, KMS records, and the first/last KMS event time."""
    window = _window_sql(since, until)
    where = f"\nWHERE {window.removeprefix(chr(10) + '    AND ')}" if window else ""
    kms = "eventsource = 'kms.amazonaws.com'"
    return (
        "SELECT count(*) AS events_read,\n"
        f"  count_if({kms}) AS kms_events,\n"
        f"  min(CASE WHEN {kms} THEN eventtime END) AS first_event,\n"
        f"  max(CASE WHEN {kms} THEN eventtime END) AS last_event\n"
        f"FROM {_check_table(table)}{where}"
    )


# ---------------------------------------------------------------------------------------------
# rows -> aggregate (shared by Athena and the DuckDB runner of the same SQL)


def _samples(value: Any) -> list[dict[str, object]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else json.loads(value)
    out: list[dict[str, object]] = []
    for s in items:
        if s is None:
            continue
        d = json.loads(s) if isinstance(s, str) else s
        if isinstance(d, dict):
            out.append(d)
    return out


def _identity(row: Mapping[str, Any]) -> UserIdentity:
    issuer = None
    if row["issuer_arn"] or row["issuer_type"]:
        issuer = SessionContext(
            SessionIssuer(
                type=row["issuer_type"],
                principal_id=row["issuer_pid"],
                arn=row["issuer_arn"],
                account_id=row["issuer_account"],
            )
        )
    return UserIdentity(
        type=row["ui_type"],
        principal_id=row["ui_uid"] or None,
        arn=row["ui_arn"],
        account_id=row["ui_account"],
        invoked_by=row["ui_invokedby"],
        session_context=issuer,
    )


def rows_to_aggregate(rows: Iterable[Mapping[str, Any]], opts: ScanOptions) -> Aggregate:
    agg = Aggregate()
    for row in rows:
        res = [Resource(arn=row[c]) for c in ("res_key1", "res_key2") if row[c]]
        keys = key_arns(res, row["req_key_id"], row["awsregion"], row["recipientaccountid"])
        if not keys or (opts.keys and not any(key_matches(k, opts.keys) for k in keys)):
            continue
        ui = _identity(row)
        principal = resolve_principal(ui, partition_of(keys[0]))
        if principal is None:
            continue
        name, ptype, account, pid = principal
        via = (
            None
            if ptype is PrincipalType.SERVICE
            else via_service(ui.invoked_by, row["service_host"], row["awsregion"])
        )
        samples = {
            "encryptionContext": _samples(row["ctx_samples"]),
            "sourceEncryptionContext": _samples(row["sctx_samples"]),
            "destinationEncryptionContext": _samples(row["dctx_samples"]),
        }
        params = {k: v[0] for k, v in samples.items() if v}
        count, first, last = int(row["n"]), str(row["first_seen"]), str(row["last_seen"])
        for i, key in enumerate(keys):  # position matters: ReEncrypt's source/destination
            if opts.keys and not key_matches(key, opts.keys):
                continue
            key_account = arn_account(key)
            owner_copy = row["recipientaccountid"] in (None, key_account)
            if account is not None and account != key_account and not owner_copy:
                ident = identity_of(ui)
                if ident is not None:
                    agg.identities.setdefault(ident[0], ident[1])
            acts, context = _action_and_context(row["eventname"] or "?", params, i, len(keys))
            for a in acts:
                gk = (
                    key, name, ptype, account, pid, a, via, row["vpcendpointid"],
                    row["errorcode"], owner_copy, tuple(sorted(context)) if context else (),
                )
                stats = agg.groups.get(gk)
                if stats is None:
                    stats = agg.groups[gk] = GroupStats(0, first, last)
                stats.count += count
                stats.first, stats.last = min(stats.first, first), max(stats.last, last)
                for name_ctx in _context_sources(row["eventname"], i, len(keys)):
                    for sample in samples[name_ctx]:
                        stats.add_context(sample)
    return agg


def _context_sources(action: str | None, index: int, n_keys: int) -> tuple[str, ...]:
    if action != "ReEncrypt":
        return ("encryptionContext",)
    if n_keys == 1:
        return ("sourceEncryptionContext", "destinationEncryptionContext")
    return ("sourceEncryptionContext",) if index == 0 else ("destinationEncryptionContext",)


def apply_totals(agg: Aggregate, row: Mapping[str, Any]) -> None:
    agg.events_read = int(row["events_read"] or 0)
    agg.kms_events = int(row["kms_events"] or 0)
    agg.first_event = row["first_event"] or None
    agg.last_event = row["last_event"] or None


# ---------------------------------------------------------------------------------------------
# the boto3 client flow


@dataclass(frozen=True, slots=True)
class AthenaTarget:
    table: str  # DATABASE.TABLE
    workgroup: str = "primary"
    output_location: str | None = None  # s3://...; the workgroup's default when None
    catalog: str | None = None


_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


def run_query(
    client: AthenaClient,
    sql: str,
    target: AthenaTarget,
    *,
    poll_seconds: float = 0.5,
    timeout_seconds: float = 1800,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, str | None]]:
    """Start a query, poll until it ends, page through its results (header row dropped)."""
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs: dict[str, Any] = {"QueryString": sql, "WorkGroup": target.workgroup}
    if target.output_location:
        kwargs["ResultConfiguration"] = {"OutputLocation": target.output_location}
    if "." in target.table:
        ctx: dict[str, str] = {"Database": target.table.split(".", 1)[0]}
        if target.catalog:
            ctx["Catalog"] = target.catalog
        kwargs["QueryExecutionContext"] = ctx
    try:
        qid = client.start_query_execution(**kwargs)["QueryExecutionId"]
        deadline = time.monotonic() + timeout_seconds
        delay = poll_seconds
        while True:
            status = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
            state = status["State"]
            if state in _DONE:
                break
            if time.monotonic() > deadline:
                client.stop_query_execution(QueryExecutionId=qid)
                raise SourceError(f"athena query `{qid}` did not finish in {timeout_seconds:.0f}s")
            sleep(delay)
            delay = min(delay * 1.5, 5.0)
        if state != "SUCCEEDED":
            reason = status.get("StateChangeReason", "no reason given")
            raise SourceError(
                f"athena query `{qid}` {state.lower()}: {reason}",
                hint="check the table name, the workgroup and the output location",
            )
        rows: list[dict[str, str | None]] = []
        header: list[str] | None = None
        token: str | None = None
        while True:
            page_args: dict[str, Any] = {"QueryExecutionId": qid}
            if token:
                page_args["NextToken"] = token
            page = client.get_query_results(**page_args)
            for raw in page["ResultSet"]["Rows"]:
                values = [d.get("VarCharValue") for d in raw.get("Data", [])]
                if header is None:
                    header = [str(v) for v in values]
                    continue
                rows.append(dict(zip(header, values, strict=False)))
            token = page.get("NextToken")
            if not token:
                return rows
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"athena: {exc}", hint="check credentials and the workgroup") from None


def analyze_with_athena(
    client: AthenaClient,
    target: AthenaTarget,
    *,
    zone: TrustZone | None = None,
    since: str | None = None,
    until: str | None = None,
    keys: tuple[str, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = 3600,
) -> UsageReport:
    """Both queries within `deadline` seconds (None: no limit); a query still running
    then is stopped and the run is incomplete (exit 4)."""
    lo = parse_when(since) if since else None
    hi = parse_when(until, end=True) if until else None
    ends = time.monotonic() + (deadline if deadline else math.inf)

    def query(sql: str) -> list[dict[str, str | None]]:
        left = max(1.0, ends - time.monotonic())
        return run_query(client, sql, target, sleep=sleep, timeout_seconds=left)

    rows = query(groups_sql(target.table, lo, hi))
    agg = rows_to_aggregate(rows, ScanOptions(since=lo, until=hi, keys=frozenset(keys)))
    totals = query(totals_sql(target.table, lo, hi))
    if totals:
        apply_totals(agg, totals[0])
    return build_report(
        agg, zone or TrustZone(), since=lo, until=hi, requested_keys=keys, engine="athena"
    )
