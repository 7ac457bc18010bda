"""Run the Athena SQL in-process with DuckDB: `read_json` over the log files exposed as a view
shaped like Athena's standard CloudTrail table, the SQL transpiled by sqlglot.

Used to check the Athena SQL against the local engine, and as the DuckDB side of the speed
comparison. Unlike the local engine it cannot skip a corrupt file: DuckDB fails the query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmsguard.errors import SourceError
from kmsguard.model import TrustZone

from .aggregate import Aggregate, ScanOptions
from .athena import apply_totals, groups_sql, rows_to_aggregate, totals_sql
from .report import UsageReport, build_report

_IDENTITY = (
    "STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, "
    "invokedBy VARCHAR, sessionContext STRUCT(sessionIssuer STRUCT(type VARCHAR, "
    "principalId VARCHAR, arn VARCHAR, accountId VARCHAR, userName VARCHAR)))"
)
_RECORD = (
    "STRUCT(eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, eventType VARCHAR, "
    "awsRegion VARCHAR, errorCode VARCHAR, sourceIPAddress VARCHAR, "
    "recipientAccountId VARCHAR, vpcEndpointId VARCHAR, "
    f"userIdentity {_IDENTITY}, requestParameters JSON, "
    "resources STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[])"
)

TABLE = "cloudtrail_logs"


def to_duckdb(sql: str) -> str:
    import sqlglot

    return str(sqlglot.transpile(sql, read="trino", write="duckdb")[0])


def create_view(con: Any, files: Sequence[str], *, name: str = TABLE) -> None:
    """A view with Athena's CloudTrail columns (lower-case names, `requestparameters` as JSON
    text, `resources` as an array of structs) over `{"Records": [...]}` files."""
    if not files:
        raise SourceError("no log files to read")
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f"""
        CREATE OR REPLACE VIEW {name} AS
        SELECT r.eventTime AS eventtime, r.eventSource AS eventsource,
               r.eventName AS eventname, r.eventType AS eventtype,
               r.awsRegion AS awsregion, r.errorCode AS errorcode,
               r.sourceIPAddress AS sourceipaddress,
               r.recipientAccountId AS recipientaccountid,
               r.vpcEndpointId AS vpcendpointid, r.userIdentity AS useridentity,
               CAST(r.requestParameters AS VARCHAR) AS requestparameters,
               r.resources AS resources
        FROM (
          SELECT unnest(Records) AS r
          FROM read_json([{listing}], format = 'unstructured', records = 'true',
                         maximum_object_size = 1073741824,
                         columns = {{'Records': '{_RECORD}[]'}})
        )
        """
    )


def aggregate(con: Any, opts: ScanOptions, *, table: str = TABLE) -> Aggregate:
    sql = to_duckdb(groups_sql(table, opts.since, opts.until, samples_as_json=False))
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    agg = rows_to_aggregate(rows, opts)
    cur = con.execute(to_duckdb(totals_sql(table, opts.since, opts.until)))
    cols = [d[0] for d in cur.description]
    totals = cur.fetchone()
    if totals is not None:
        apply_totals(agg, dict(zip(cols, totals, strict=True)))
    return agg


def analyze_files(
    files: Sequence[str],
    *,
    zone: TrustZone | None = None,
    opts: ScanOptions | None = None,
    threads: int | None = None,
) -> UsageReport:
    import duckdb

    opts = opts or ScanOptions()
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        create_view(con, files)
        agg = aggregate(con, opts)
        agg.files = len(files)
    except duckdb.Error as exc:
        raise SourceError(f"duckdb could not read the logs: {exc}") from None
    finally:
        con.close()
    return build_report(
        agg,
        zone or TrustZone(),
        since=opts.since,
        until=opts.until,
        requested_keys=tuple(sorted(opts.keys)),
        engine="duckdb",
    )
