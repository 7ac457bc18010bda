"""S3 sources, alias resolution and the Athena engine against the moto server (127.0.0.1),
and the Athena SQL checked by transpiling it to DuckDB."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from kmsguard.errors import SourceError
from kmsguard.model import TrustZone
from kmsguard.usage import UsageReport, analyze_usage, resolve_keys
from kmsguard.usage.aggregate import ScanOptions
from kmsguard.usage.athena import AthenaTarget, analyze_with_athena, groups_sql, run_query
from kmsguard.usage.engine_duckdb import analyze_files, create_view, to_duckdb
from kmsguard.usage.sources import S3LogSource

from .generator import KEY_A, KEY_B, LogTree
from .helpers import comparable, observed

pytestmark = pytest.mark.integration


ATHENA_REST_JSON = pytest.mark.lags_aws(
    "botocore>=1.44 speaks rest-json to Athena (POST /query-executions); moto does not route it"
)


def _upload(root: Path, bucket: str, prefix: str) -> int:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    n = 0
    for f in sorted(root.rglob("*.json.gz")):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{f.relative_to(root)}", Body=f.read_bytes())
        n += 1
    return n


def test_s3_source_equals_local(aws_env: str, scenario: LogTree, log_tree: Path) -> None:
    _upload(log_tree, "trail-bucket", "org/")
    local = analyze_usage([log_tree], jobs=1)
    remote = analyze_usage(["s3://trail-bucket/org/"], jobs=1)
    assert observed(remote) == scenario.expected()
    assert remote.files == local.files
    assert remote.events_read == local.events_read


def test_s3_lists_only_window_days(aws_env: str, log_tree: Path) -> None:
    _upload(log_tree, "trail-bucket", "")
    s3 = boto3.client("s3")
    for junk in ("AWSLogs/o-exampleorg1/111122223333/vpcflowlogs/us-east-1/2025/05/19/f.json.gz",
                 "other/2025/05/19/x.json.gz"):
        s3.put_object(Bucket="trail-bucket", Key=junk, Body=b"not json")
    src = S3LogSource("s3://trail-bucket", boto3.client("s3"))
    report = analyze_usage([src], jobs=1, since="2025-05-19", until="2025-05-19")
    local = analyze_usage([log_tree], jobs=1, since="2025-05-19", until="2025-05-19")
    assert comparable(report)["keys"] == comparable(local)["keys"]
    assert report.skipped == ()  # neither the flow logs nor `other/` were read
    assert report.files < analyze_usage([log_tree], jobs=1).files
    # one listing per level (root, AWSLogs/, the org, 2 accounts, their CloudTrail/ folders),
    # then only the day folders 05-18..05-20 of each region: never CloudTrail-Digest, other
    # services' logs or folders beside AWSLogs/
    assert src.list_calls == 1 + 1 + 1 + 2 + 2 + 2 * 3


def test_s3_missing_bucket_is_a_source_error(aws_env: str) -> None:
    with pytest.raises(SourceError, match="cannot list"):
        analyze_usage(["s3://no-such-bucket/x/"], jobs=1)


def test_alias_resolution(aws_env: str) -> None:
    kms = boto3.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/orders", TargetKeyId=key["KeyId"])
    assert resolve_keys(["alias/orders", "k1"], lambda _r: kms) == [key["Arn"], "k1"]


# -------------------------------------------------------------------------------------------
# Athena


def _duckdb_rows(files: list[Path], sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import duckdb

    con = duckdb.connect()
    create_view(con, [str(f) for f in files])
    cur = con.execute(to_duckdb(sql))
    cols = [d[0] for d in cur.description]
    return cols, cur.fetchall()


def test_athena_sql_on_duckdb_equals_local_engine(scenario: LogTree, tmp_path: Path) -> None:
    files = scenario.write(tmp_path)
    local = analyze_usage([tmp_path], jobs=1)
    via_sql = analyze_files([str(f) for f in files])
    assert observed(via_sql) == scenario.expected()
    assert comparable(via_sql) == comparable(local)
    windowed = analyze_files(
        [str(f) for f in files],
        opts=ScanOptions(since="2025-05-19T00:00:00Z", until="2025-05-20T00:00:00Z"),
    )
    local_w = analyze_usage([tmp_path], jobs=1, since="2025-05-19", until="2025-05-19")
    assert comparable(windowed)["keys"] == comparable(local_w)["keys"]
    assert windowed.kms_events == local_w.kms_events


def test_athena_sql_is_valid_trino() -> None:
    import sqlglot

    sql = groups_sql("cloudtrail.logs", "2025-05-01T00:00:00Z", "2025-06-01T00:00:00Z")
    parsed = sqlglot.parse_one(sql, read="trino")
    assert parsed is not None
    assert "eventtime >= '2025-05-01T00:00:00Z'" in sql
    with pytest.raises(Exception, match="not a table name"):
        groups_sql("x; DROP TABLE y")


def _as_athena_value(v: Any) -> dict[str, str]:
    if v is None:
        return {}
    if isinstance(v, list):
        return {"VarCharValue": json.dumps(v)}
    return {"VarCharValue": str(v)}


def _post(url: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def _seed_athena(url: str, results: list[tuple[list[str], list[tuple[Any, ...]]]]) -> None:
    # each query stays QUEUED, then RUNNING, for two polls: the client must wait
    _post(
        f"{url}/moto-api/state-manager/set-transition",
        {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}},
    )
    body = {
        "region": "us-east-1",
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": c} for c in cols]}]
                + [{"Data": [_as_athena_value(v) for v in row]} for row in rows],
                "column_info": [{"Name": c, "Type": "varchar"} for c in cols],
            }
            for cols, rows in results
        ],
    }
    assert _post(f"{url}/moto-api/static/athena/query-results", body) == 201


@ATHENA_REST_JSON
def test_athena_client_flow(aws_env: str, scenario: LogTree, tmp_path: Path) -> None:
    """start -> poll -> page results through boto3 against moto, whose canned results are the
    rows the same SQL gives on DuckDB, rendered as Athena renders them (all text)."""
    from kmsguard.usage.athena import totals_sql

    files = scenario.write(tmp_path)
    groups = _duckdb_rows(files, groups_sql("cloudtrail_logs", samples_as_json=False))
    totals = _duckdb_rows(files, totals_sql("cloudtrail_logs"))
    _seed_athena(aws_env, [groups, totals])
    boto3.client("s3").create_bucket(Bucket="athena-results")
    client = boto3.client("athena")
    sleeps: list[float] = []
    try:
        report = analyze_with_athena(
            client,
            AthenaTarget("cloudtrail.logs", "primary", "s3://athena-results/kmsguard/"),
            zone=TrustZone(account="111122223333"),
            sleep=sleeps.append,
        )
    finally:
        _post(
            f"{aws_env}/moto-api/state-manager/unset-transition",
            {"model_name": "athena::execution"},
        )
    assert report.engine == "athena"
    assert sleeps  # the query was polled while QUEUED / RUNNING
    assert observed(report) == scenario.expected()
    local = analyze_usage([tmp_path], jobs=1, zone=TrustZone(account="111122223333"))
    assert comparable(report)["keys"] == comparable(local)["keys"]
    assert report.kms_events == local.kms_events
    executions = client.list_query_executions()["QueryExecutionIds"]
    assert len(executions) == 2
    queries = [
        client.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"]
        for q in executions
    ]
    assert any("FROM cloudtrail.logs" in q and "GROUP BY" in q for q in queries)


@ATHENA_REST_JSON
def test_athena_empty_result(aws_env: str) -> None:
    client = boto3.client("athena")
    rows = run_query(client, "SELECT 1", AthenaTarget("db.t"), sleep=lambda _s: None)
    assert rows == []


def test_s3_with_worker_processes(aws_env: str, scenario: LogTree, tmp_path: Path) -> None:
    scenario.write(tmp_path, per_file=3)  # enough files for the process pool
    n = _upload(tmp_path, "many", "")
    assert n > 24
    report = analyze_usage(["s3://many/AWSLogs/"], jobs=2)
    assert report.files == n - len(list(tmp_path.rglob("CloudTrail-Digest/*/*/*/*/*.json.gz")))
    assert observed(report) == scenario.expected()


def test_athena_pages_through_results() -> None:
    """moto never splits results into pages, so the NextToken loop is checked with botocore's
    Stubber (no traffic at all)."""
    from botocore.stub import Stubber

    client = boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    for state in ("QUEUED", "RUNNING", "SUCCEEDED"):
        stub.add_response(
            "get_query_execution", {"QueryExecution": {"Status": {"State": state}}}
        )

    def row(*values: str | None) -> dict[str, Any]:
        return {"Data": [{"VarCharValue": v} if v is not None else {} for v in values]}

    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [row("a", "b"), row("1", None)]}, "NextToken": "t2"},
        {"QueryExecutionId": "q1"},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [row("2", "x")]}},
        {"QueryExecutionId": "q1", "NextToken": "t2"},
    )
    sleeps: list[float] = []
    with stub:
        rows = run_query(client, "SELECT 1", AthenaTarget("db.t"), sleep=sleeps.append)
    assert rows == [{"a": "1", "b": None}, {"a": "2", "b": "x"}]
    assert len(sleeps) == 2
    stub.assert_no_pending_responses()


def test_athena_failed_query_is_a_source_error() -> None:
    from botocore.stub import Stubber

    client = boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"Status": {"State": "FAILED",
                                       "StateChangeReason": "TABLE_NOT_FOUND"}}},
    )
    with stub, pytest.raises(SourceError, match="TABLE_NOT_FOUND"):
        run_query(client, "SELECT 1", AthenaTarget("db.t"), sleep=lambda _s: None)


@ATHENA_REST_JSON
def test_athena_through_cli(
    aws_env: str, scenario: LogTree, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kmsguard.cli import main
    from kmsguard.usage.athena import totals_sql

    files = scenario.write(tmp_path)
    _seed_athena(aws_env, [
        _duckdb_rows(files, groups_sql("cloudtrail_logs", samples_as_json=False)),
        _duckdb_rows(files, totals_sql("cloudtrail_logs")),
    ])
    try:
        with pytest.raises(SystemExit) as exc:
            main(["usage", "--engine", "athena", "--table", "cloudtrail.logs",
                  "--output-location", "s3://athena-results/q/", "--format", "json"])
    finally:
        _post(f"{aws_env}/moto-api/state-manager/unset-transition",
              {"model_name": "athena::execution"})
    assert exc.value.code == 0
    report = UsageReport.from_json(capsys.readouterr().out)
    assert report.engine == "athena"
    assert observed(report) == scenario.expected()


def test_athena_sql_key_filter(scenario: LogTree, tmp_path: Path) -> None:
    files = [str(f) for f in scenario.write(tmp_path)]
    for key in (KEY_A, KEY_B):
        report = analyze_files(files, opts=ScanOptions(keys=frozenset({key})))
        assert observed(report) == {key: scenario.expected()[key]}
