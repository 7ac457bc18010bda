"""Interrupting `apply` at any point never loses the previous policy: it is on disk (backup
file and database) before PutKeyPolicy is called."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmsguard.fix.apply import apply_plan, rollback
from kmsguard.fix.kms import KeyPolicyClient
from kmsguard.fix.outcome import Applied, Skipped, SkipReason
from kmsguard.fix.planning import make_offer
from kmsguard.model import TrustZone
from kmsguard.policy.remediation import ObservedCaller
from kmsguard.store import PolicyVersionStore, VersionReason, open_database

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OLD = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "Use", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
     "Resource": "*"}]})
CALLERS = (ObservedCaller(f"arn:aws:iam::{A}:role/app", A, (("kms:Decrypt", 3),)),)


class FakeKms:
    """Just enough of a KMS client; `fail_put` is raised from PutKeyPolicy."""

    def __init__(self, policy: str, fail_put: BaseException | None = None) -> None:
        self.policy = policy
        self.fail_put = fail_put
        self.puts = 0

    def describe_key(self, KeyId: str) -> dict[str, Any]:  # noqa: N803  # boto3 names
        return {"KeyMetadata": {"Arn": KEY}}

    def get_key_policy(self, KeyId: str, PolicyName: str) -> dict[str, Any]:  # noqa: N803
        return {"Policy": self.policy}

    def put_key_policy(self, KeyId: str, PolicyName: str, Policy: str) -> None:  # noqa: N803
        self.puts += 1
        if self.fail_put is not None:
            raise self.fail_put
        self.policy = Policy


def _setup(tmp_path: Path, fake: FakeKms) -> tuple[KeyPolicyClient, PolicyVersionStore, Any]:
    store = PolicyVersionStore(open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    offer = make_offer(OLD, CALLERS, TrustZone(account=A), key_account=A, source=KEY,
                       key_arn=KEY)
    assert offer.offered
    return KeyPolicyClient(fake), store, offer.saved()  # type: ignore[arg-type]


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), ConnectionResetError("reset")])
def test_interrupt_during_put_key_policy_keeps_the_old_policy(
    tmp_path: Path, failure: BaseException
) -> None:
    fake = FakeKms(OLD, fail_put=failure)
    kms, store, plan = _setup(tmp_path, fake)
    with pytest.raises(type(failure)):
        apply_plan(kms, store, plan, key=KEY, confirm=True, backup_dir=tmp_path / "b")
    assert fake.puts == 1
    versions = store.versions(KEY)
    assert [(v.reason, v.policy) for v in versions] == [(VersionReason.BEFORE_APPLY, OLD)]
    (backup,) = (tmp_path / "b").glob("*.json")
    assert json.loads(backup.read_text())["policy"] == OLD
    assert versions[0].backup_path == str(backup)


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    fake = FakeKms(OLD)
    kms, store, plan = _setup(tmp_path, fake)
    result = apply_plan(kms, store, plan, key=KEY, confirm=False, backup_dir=tmp_path / "b")
    assert isinstance(result, Skipped)
    assert result.reason is SkipReason.DRY_RUN
    assert not result.refused
    assert "+++" in result.diff
    assert fake.puts == 0
    assert store.versions(KEY) == ()
    assert not (tmp_path / "b").exists()


def test_apply_reads_back_and_rejudges(tmp_path: Path) -> None:
    fake = FakeKms(OLD)
    kms, store, plan = _setup(tmp_path, fake)
    result = apply_plan(kms, store, plan, key=KEY, confirm=True, backup_dir=tmp_path / "b")
    assert isinstance(result, Applied)
    assert result.readback_matches
    assert str(result.verdict_after) == "private"
    assert fake.policy == plan.new_policy
    assert result.to_json()["status"] == "applied"


class CrashAfterPut(FakeKms):
    """PutKeyPolicy succeeds, then the process dies before reading the policy back."""

    def get_key_policy(self, KeyId: str, PolicyName: str) -> dict[str, Any]:  # noqa: N803
        if self.puts:
            raise KeyboardInterrupt
        return super().get_key_policy(KeyId, PolicyName)


def test_rollback_after_a_crash_between_write_and_read_back(tmp_path: Path) -> None:
    healthy = FakeKms(OLD)
    kms, store, plan = _setup(tmp_path, healthy)
    backups = tmp_path / "b"
    # an earlier apply and rollback leave "applied" and "rolled-back" rows behind
    assert isinstance(apply_plan(kms, store, plan, key=KEY, confirm=True, backup_dir=backups),
                      Applied)
    assert isinstance(rollback(kms, store, key=KEY, to_version=None, confirm=True,
                               allow_exposed=True, backup_dir=backups), Applied)
    assert healthy.policy == OLD

    crashing = CrashAfterPut(OLD)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(KeyPolicyClient(crashing), store, plan, key=KEY,  # type: ignore[arg-type]
                   confirm=True, backup_dir=backups)
    assert crashing.policy == plan.new_policy  # written, but never read back or recorded
    assert store.versions(KEY)[-1].reason is VersionReason.BEFORE_APPLY

    # a later run recognizes the live policy as the one kmsguard was writing
    after = FakeKms(crashing.policy)
    result = rollback(KeyPolicyClient(after), store, key=KEY,  # type: ignore[arg-type]
                      to_version=None, confirm=True, backup_dir=backups, allow_exposed=True)
    assert isinstance(result, Applied), result
    assert after.policy == OLD
