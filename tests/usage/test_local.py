"""The local engine on generated log trees: exact aggregates, windows, zone, bad files."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest

from kmsguard.model import TrustZone
from kmsguard.usage import Evidence, UsageReport, analyze_usage
from kmsguard.usage.sources import DateRange, LocalLogSource

from .generator import KEY_A, KEY_B, KEY_P, KEY_UNUSED, PARTNER, STRANGER, LogTree
from .helpers import observed


def test_exact_aggregates(scenario: LogTree, log_tree: Path) -> None:
    report = analyze_usage([log_tree], jobs=1)
    assert observed(report) == scenario.expected()
    assert report.events_read == scenario.n_records  # digest files are never read
    kms_records = sum(
        1 for recs in scenario.records.values() for r in recs
        if r["eventSource"] == "kms.amazonaws.com"
    )
    assert report.kms_events == kms_records
    assert report.skipped == ()
    assert report.files == len(list(log_tree.rglob("CloudTrail/*/*/*/*/*.json.gz")))


def test_variants_are_named_as_a_policy_would(log_tree: Path) -> None:
    report = analyze_usage([log_tree], jobs=1)
    a = report.key(KEY_A)
    assert a is not None
    by = {c.principal: c for c in a.callers}
    # role path kept from the session issuer
    assert "arn:aws:iam::111122223333:role/service-role/orders-app" in by
    # cross-account: owner's AWSAccount copy joined with the caller's copy, counted once
    partner = by[f"arn:aws:iam::{PARTNER}:role/partner-etl"]
    assert dict(partner.actions) == {"Decrypt": 4}
    assert partner.principal_id == "AROAPARTNERETL00001"
    # only the owner's copy: named by its account, unique id kept
    stranger = by[f"arn:aws:iam::{STRANGER}:root"]
    assert stranger.principal_id == "AROASTRANGER0000001"
    assert str(stranger.principal_type) == "account"
    # FAS through S3: the role, with the regional via-service
    fas = by["arn:aws:iam::111122223333:role/analytics-reader"]
    assert fas.via_services == ("s3.us-east-1.amazonaws.com",)
    assert fas.requests[0].encryption_context_keys == ("aws:s3:arn",)
    assert fas.encryption_context[0].values is None  # 8 distinct values: "many"
    service = by["s3.amazonaws.com"]
    assert service.account is None
    assert not service.outside_zone


def test_zone_flags_in_use_and_probing(log_tree: Path) -> None:
    report = analyze_usage([log_tree], jobs=1)
    flagged = {
        (k.key_arn, c.principal): c.evidence for k in report.keys for c in k.callers
        if c.outside_zone
    }
    assert flagged == {
        (KEY_A, f"arn:aws:iam::{PARTNER}:role/partner-etl"): Evidence.IN_USE,
        (KEY_A, f"arn:aws:iam::{STRANGER}:root"): Evidence.IN_USE,
        (KEY_B, f"arn:aws:iam::{PARTNER}:role/partner-etl"): Evidence.PROBING,
    }
    # the partner's own key is used by the partner: its own account is inside
    p = report.key(KEY_P)
    assert p is not None
    assert not any(c.outside_zone for c in p.callers)
    zone = TrustZone(account="111122223333", trusted_accounts=frozenset({PARTNER}))
    trusted = analyze_usage([log_tree], jobs=1, zone=zone)
    assert {c.principal for k in trusted.keys for c in k.callers if c.outside_zone} == {
        f"arn:aws:iam::{STRANGER}:root"
    }


def test_parallel_equals_serial(scenario: LogTree, tmp_path: Path) -> None:
    scenario.write(tmp_path, per_file=2)  # many small files: the process pool is used
    serial = analyze_usage([tmp_path], jobs=1)
    parallel = analyze_usage([tmp_path], jobs=2)
    assert serial.files > 24
    assert parallel == serial
    assert observed(parallel) == scenario.expected()


def test_window_filters_events_and_prunes_folders(scenario: LogTree, log_tree: Path) -> None:
    since, until = "2025-05-19", "2025-05-19"
    report = analyze_usage([log_tree], jobs=1, since=since, until=until)
    in_window = sorted(
        r["eventTime"] for recs in scenario.records.values() for r in recs
        if r["eventSource"] == "kms.amazonaws.com" and r["eventTime"].startswith("2025-05-19")
    )
    assert report.kms_events == len(in_window)
    assert report.window.since == "2025-05-19T00:00:00Z"
    assert report.window.until == "2025-05-20T00:00:00Z"
    assert report.window.first_event == in_window[0]
    for k in report.keys:
        for c in k.callers:
            assert c.first_seen >= "2025-05-19T00:00:00Z"
            assert c.last_seen < "2025-05-20T00:00:00Z"
    # only the folders of 05-18..05-20 (one day of margin each side) are listed
    day = date(2025, 5, 19)
    listed = LocalLogSource(log_tree).list_logs(DateRange.around(day, day))
    days = {r.name.split("/CloudTrail/us-east-1/")[1][:10] for r in listed}
    assert days == {"2025/05/18", "2025/05/19", "2025/05/20"}


def test_key_filter_lists_unused_keys(log_tree: Path) -> None:
    key_id = KEY_B.rsplit("/", 1)[-1]
    report = analyze_usage([log_tree], jobs=1, keys=[KEY_A, key_id, KEY_UNUSED])
    assert [k.key_arn for k in report.keys] == sorted([KEY_A, KEY_B, KEY_UNUSED])
    unused = report.key(KEY_UNUSED)
    assert unused is not None
    assert unused.unused
    assert unused.callers == ()
    assert report.to_dict()["keys"][-1]["unused"] is True


def test_json_round_trip(log_tree: Path) -> None:
    report = analyze_usage([log_tree], jobs=1)
    again = UsageReport.from_json(report.to_json())
    assert again == report
    data = json.loads(report.to_json())
    caller = data["keys"][0]["callers"][0]
    for field in ("principal", "principal_type", "account", "actions", "via_services",
                  "vpc_endpoints", "first_seen", "last_seen", "denied", "outside_zone"):
        assert field in caller


def _records(*recs: dict[str, object]) -> bytes:
    return json.dumps({"Records": list(recs)}).encode()


def test_bad_files_are_skipped_by_name(scenario: LogTree, tmp_path: Path) -> None:
    files = scenario.write(tmp_path)
    good = files[0].read_bytes()
    bad_dir = files[0].parent
    (bad_dir / "truncated.json.gz").write_bytes(good[: len(good) // 2])
    (bad_dir / "invalid.json.gz").write_bytes(gzip.compress(b'{"Records": [{"eventSource": '))
    (bad_dir / "shape.json.gz").write_bytes(gzip.compress(b'{"Records": "nope"}'))
    (bad_dir / "digest-like.json").write_text('{"awsAccountId": "1", "logFiles": []}')
    report = analyze_usage([tmp_path], jobs=1)
    reasons = {Path(s.name).name: s.reason for s in report.skipped}
    assert set(reasons) == {"truncated.json.gz", "invalid.json.gz", "shape.json.gz",
                            "digest-like.json"}
    assert reasons["truncated.json.gz"] == "truncated gzip"
    assert reasons["invalid.json.gz"].startswith("invalid JSON")
    assert report.incomplete
    # the good files are all still counted
    assert observed(report) == scenario.expected()


def test_other_shapes(tmp_path: Path) -> None:
    rec = {
        "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
        "eventTime": "2025-05-20T10:00:00Z", "eventType": "AwsApiCall", "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDA1",
                         "arn": "arn:aws:iam::111122223333:user/u", "accountId": "111122223333"},
        "resources": [{"ARN": KEY_A}],
    }
    envelope = {"version": "0", "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.kms", "detail": rec}
    (tmp_path / "one.json").write_text(json.dumps(rec))
    (tmp_path / "events.jsonl").write_text(json.dumps(envelope) + "\n" + json.dumps(rec) + "\n")
    (tmp_path / "array.json").write_text(json.dumps([rec, envelope]))
    (tmp_path / "log.json.gz").write_bytes(gzip.compress(_records(rec, rec)))
    (tmp_path / "notes.txt").write_text("not a log")
    report = analyze_usage([tmp_path], jobs=1)
    assert report.skipped == ()
    assert report.files == 4
    key = report.key(KEY_A)
    assert key is not None
    assert dict(key.callers[0].actions) == {"Decrypt": 7}


def test_missing_source_is_an_input_error(tmp_path: Path) -> None:
    from kmsguard.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        analyze_usage([tmp_path / "nope"])
    with pytest.raises(InputError, match="not before"):
        analyze_usage([tmp_path], since="2025-05-20", until="2025-05-01")


def test_key_filter_keeps_reencrypt_direction(scenario: LogTree, log_tree: Path) -> None:
    """ReEncrypt is From on its first key and To on its second, whichever keys are asked."""
    app = "arn:aws:iam::111122223333:role/service-role/orders-app"
    for key in (KEY_A, KEY_B):
        report = analyze_usage([log_tree], jobs=1, keys=[key])
        assert [k.key_arn for k in report.keys] == [key]
        assert observed(report)[key] == scenario.expected()[key]
        usage = report.key(key)
        assert usage is not None
        actions = {c.principal: dict(c.actions) for c in usage.callers}[app]
        assert ("ReEncryptFrom" in actions) == (key == KEY_A)
        assert ("ReEncryptTo" in actions) == (key == KEY_B)


def _junk(root: Path) -> None:
    """Other services' logs in the same tree, and a folder beside AWSLogs: never read."""
    for rel in ("AWSLogs/111122223333/vpcflowlogs/us-east-1/2025/05/19/flow.json.gz",
                "AWSLogs/o-exampleorg1/111122223333/elasticloadbalancing/x.json.gz",
                "AWSLogs/o-exampleorg1/notanaccount/CloudTrail/x.json.gz",
                "exports/report.json"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not json")


def test_only_cloudtrail_folders_are_read(scenario: LogTree, tmp_path: Path) -> None:
    scenario.write(tmp_path)
    _junk(tmp_path)
    report = analyze_usage([tmp_path], jobs=1)
    assert report.skipped == ()
    assert observed(report) == scenario.expected()


def test_memory_follows_groups_not_records(scenario: LogTree, log_tree: Path) -> None:
    """Reading the same logs ten times multiplies the counts, not the groups."""
    from kmsguard.usage.aggregate import Aggregate, ScanOptions
    from kmsguard.usage.decode import read_records

    files = sorted(log_tree.rglob("CloudTrail/*/*/*/*/*.json.gz"))
    once, many = Aggregate(), Aggregate()
    for f in files:
        once.add_records(read_records(f.read_bytes()), ScanOptions())
    for _ in range(10):
        for f in files:
            many.add_records(read_records(f.read_bytes()), ScanOptions())
    assert len(many.groups) == len(once.groups)
    assert len(many.identities) == len(once.identities)
    assert {k: v.count * 10 for k, v in once.groups.items()} == {
        k: v.count for k, v in many.groups.items()
    }
    assert all(len(vs) <= 6 for g in many.groups.values() for vs in g.context_values.values())
