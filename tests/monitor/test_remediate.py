"""`--remediate` on the moto server: the last private policy comes back only when the live
policy still is the exposed one and the verifier accepts it; the replaced policy is saved."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from kmsguard.aws.session import SessionClients
from kmsguard.monitor import CollectingSink, Monitor
from kmsguard.monitor.aws_reader import RegionClients
from kmsguard.monitor.remediate import PolicyRestorer
from kmsguard.monitor.state_sql import SqlMonitorState
from kmsguard.store import PolicyVersionStore, VersionReason, open_database

from .events import private_policy, public_policy, put_policy

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"  # moto's account


def _monitor(
    db_url: str, tmp_path: Path, sink: CollectingSink, *, on_remediate: Callable[[], None] = list
) -> Monitor:
    """`on_remediate` is called when a remediation starts (before it takes the key's lock)."""
    from kmsguard.model import TrustZone

    engine = open_database(db_url)
    clients = RegionClients(SessionClients(boto3.Session(region_name="eu-west-1"), None))  # type: ignore[arg-type]

    def kms(region: str) -> Any:
        on_remediate()
        return clients.kms(region)

    restorer = PolicyRestorer(
        kms, PolicyVersionStore(engine), zone=TrustZone(), backup_dir=tmp_path / "bk"
    )
    return Monitor(SqlMonitorState(engine), sink, remediator=restorer)


def test_exposed_key_gets_its_private_policy_back(
    aws_env: str, db_url: str, tmp_path: Path
) -> None:
    kms = boto3.client("kms", region_name="eu-west-1")
    good = private_policy(ACCOUNT)
    key = kms.create_key(Policy=good)["KeyMetadata"]["Arn"]
    sink = CollectingSink()
    mon = _monitor(db_url, tmp_path, sink)
    mon.handle(put_policy(good, key, time="2026-11-20T10:00:00Z"))
    bad = public_policy(ACCOUNT)
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=bad)
    mon.handle(put_policy(bad, key, time="2026-11-20T10:01:00Z"))
    [alert] = sink.alerts
    assert alert.remediation is not None
    assert alert.remediation["status"] == "applied", alert.remediation
    assert alert.remediation["verdict_after"] == "private"
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == good
    saved = PolicyVersionStore(open_database(db_url)).versions(key)
    assert [(v.reason, v.policy) for v in saved] == [
        (VersionReason.BEFORE_ROLLBACK, bad),
        (VersionReason.ROLLED_BACK, good),
    ]
    assert Path(alert.remediation["backup_path"]).exists()


def test_no_blind_edit(aws_env: str, db_url: str, tmp_path: Path) -> None:
    kms = boto3.client("kms", region_name="eu-west-1")
    good = private_policy(ACCOUNT)
    key = kms.create_key(Policy=good)["KeyMetadata"]["Arn"]
    sink = CollectingSink()
    mon = _monitor(db_url, tmp_path, sink)
    # never seen private: nothing to restore
    mon.handle(put_policy(public_policy(ACCOUNT), key, time="2026-11-20T09:00:00Z"))
    assert sink.alerts[-1].remediation == {
        "status": "skipped",
        "detail": "no policy of this key was ever judged private",
    }
    mon.handle(put_policy(good, key, time="2026-11-20T10:00:00Z"))
    # the live policy moved on since the event: leave it alone
    newer = json.loads(good)
    newer["Statement"][1]["Action"] = ["kms:Decrypt"]
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(newer))
    mon.handle(put_policy(public_policy(ACCOUNT), key, time="2026-11-20T10:01:00Z"))
    assert sink.alerts[-1].remediation is not None
    assert "changed since this event" in sink.alerts[-1].remediation["detail"]
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == json.dumps(newer)
    assert PolicyVersionStore(open_database(db_url)).versions(key) == ()


def test_remediation_refuses_a_lockout(aws_env: str, db_url: str, tmp_path: Path) -> None:
    kms = boto3.client("kms", region_name="eu-west-1")
    # the last private policy lets nobody manage the key; the exposed one lets the admin role
    locked = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"},
        "Action": "kms:Decrypt", "Resource": "*"}]})  # fmt: skip
    exposed = json.loads(public_policy(ACCOUNT))
    exposed["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"}
    exposed_text = json.dumps(exposed)
    key = kms.create_key(Policy=exposed_text)["KeyMetadata"]["Arn"]
    sink = CollectingSink()
    mon = _monitor(db_url, tmp_path, sink)
    mon.handle(put_policy(locked, key, time="2026-11-20T10:00:00Z"))
    mon.handle(put_policy(exposed_text, key, time="2026-11-20T10:01:00Z"))
    remediation = sink.alerts[-1].remediation
    assert remediation is not None
    assert remediation["status"] == "skipped"
    assert "lockout" in remediation["detail"]
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == exposed_text


def test_remediation_waits_for_a_fix_holding_the_key(
    aws_env: str, db_url: str, tmp_path: Path
) -> None:
    """A `fix apply`/`rollback` holds the key's lock from its read to its read back: the
    monitor's remediation waits for it, then sees the policy that run wrote and leaves it
    alone, instead of writing in between."""
    kms = boto3.client("kms", region_name="eu-west-1")
    good = private_policy(ACCOUNT)
    key = kms.create_key(Policy=good)["KeyMetadata"]["Arn"]
    sink = CollectingSink()
    started = threading.Event()
    mon = _monitor(db_url, tmp_path, sink, on_remediate=started.set)
    mon.handle(put_policy(good, key, time="2026-11-20T10:00:00Z"))
    bad = public_policy(ACCOUNT)
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=bad)
    fixed = json.loads(good)
    fixed["Statement"][1]["Action"] = ["kms:Decrypt"]
    fixed_text = json.dumps(fixed)

    store = PolicyVersionStore(open_database(db_url))
    with store.lock(key, "fix apply"):  # what a concurrent `fix apply` holds
        handling = threading.Thread(
            target=mon.handle, args=(put_policy(bad, key, time="2026-11-20T10:01:00Z"),)
        )
        handling.start()
        assert started.wait(timeout=60), "the monitor never started the remediation"
        handling.join(timeout=2)  # without the lock, it restores the private policy by now
        assert handling.is_alive(), "the monitor did not wait for the key's lock"
        assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == bad
        # the fix run writes its policy while it holds the key
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=fixed_text)
    handling.join(timeout=60)
    assert not handling.is_alive()
    [alert] = sink.alerts
    assert alert.remediation is not None
    assert alert.remediation["status"] == "skipped", alert.remediation
    assert "changed since this event" in alert.remediation["detail"]
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == fixed_text
    assert store.versions(key) == ()
