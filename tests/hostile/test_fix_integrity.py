"""Items 7, 8 and 9: what `fix` saves cannot be tampered with alone, a rollback never
silently re-exposes a key, two applies never both write, and the store is private and
fails as an input error naming the file."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.cli import run as cli
from tests.integration.fault_proxy import FaultProxy
from tests.integration.test_fix_e2e import PUBLIC_POLICY, usage_report

pytestmark = pytest.mark.integration


@pytest.fixture
def kms(aws_env: str) -> Any:
    return boto3.client("kms", region_name="us-east-1")


@pytest.fixture
def key(kms: Any) -> str:
    arn: str = kms.create_key(Policy=PUBLIC_POLICY)["KeyMetadata"]["Arn"]
    return arn


def live(kms: Any, key: str) -> str:
    text: str = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    return text


class Files:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.usage = root / "usage.json"
        self.db = root / "state" / "kmsguard.sqlite3"
        self.backups = root / "backups"

    @property
    def store(self) -> list[str]:
        return ["--db", f"sqlite:///{self.db}", "--backup-dir", str(self.backups)]

    def plan(self, capsys: pytest.CaptureFixture[str], key: str, name: str, *extra: str) -> Path:
        self.usage.write_text(json.dumps(usage_report(key)))
        path = self.root / name
        code, _out, err = cli(
            capsys, "fix", "plan", "--key", key, "--usage", str(self.usage), "--format", "json",
            "--output", str(path), *extra,
        )
        assert code == 0, err
        return path


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


def _applied(capsys: pytest.CaptureFixture[str], files: Files, key: str) -> Path:
    plan = files.plan(capsys, key, "plan.json")
    code, _out, err = cli(
        capsys, "fix", "apply", "--key", key, "--plan", str(plan), "--yes", *files.store
    )
    assert code == 0, err
    [backup] = files.backups.glob("*.json")
    return backup


# -- item 7 ------------------------------------------------------------------------------

WIDE_OPEN = json.dumps(
    {"Version": "2012-10-17", "Statement": [
        {"Sid": "X", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}
    ]}
)


def test_edited_backup_with_recomputed_hash_is_refused(
    kms: Any, key: str, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = _applied(capsys, files, key)
    fixed = live(kms, key)
    envelope = json.loads(backup.read_text())
    envelope["policy"] = WIDE_OPEN
    envelope["sha256"] = hashlib.sha256(WIDE_OPEN.encode()).hexdigest()
    backup.write_text(json.dumps(envelope))
    code, _out, err = cli(
        capsys, "fix", "rollback", "--key", key, "--backup", str(backup), "--yes",
        "--allow-exposed", *files.store,
    )
    assert code == 2, err
    assert "altered" in err
    assert live(kms, key) == fixed


@pytest.mark.parametrize("recompute_hash", [False, True])
def test_edited_database_row_is_refused(
    kms: Any,
    key: str,
    files: Files,
    capsys: pytest.CaptureFixture[str],
    recompute_hash: bool,
) -> None:
    _applied(capsys, files, key)
    fixed = live(kms, key)
    with sqlite3.connect(files.db) as db:
        db.execute("UPDATE policy_versions SET policy = ? WHERE id = 1", (WIDE_OPEN,))
        if recompute_hash:
            sha = hashlib.sha256(WIDE_OPEN.encode()).hexdigest()
            db.execute("UPDATE policy_versions SET sha256 = ? WHERE id = 1", (sha,))
    code, _out, err = cli(
        capsys, "fix", "rollback", "--key", key, "--yes", "--allow-exposed", *files.store
    )
    assert code == 2, err
    assert "saved version 1" in err
    assert "altered" in err
    assert live(kms, key) == fixed


def test_rollback_to_an_exposed_policy_needs_allow_exposed_and_shows_the_diff(
    kms: Any, key: str, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    _applied(capsys, files, key)
    fixed = live(kms, key)
    code, out, err = cli(capsys, "fix", "rollback", "--key", key, "--yes", *files.store)
    assert code == 2
    assert "refused (exposed): version 1 is public" in err
    assert "\n+" in out  # the diff of what would be written, even when refused
    assert live(kms, key) == fixed
    code, out, err = cli(
        capsys, "fix", "rollback", "--key", key, "--yes", "--allow-exposed", *files.store
    )
    assert code == 0, err
    assert "rolled back" in out
    assert "\n+" in out
    assert "\n-" in out
    assert live(kms, key) == PUBLIC_POLICY


# -- item 9 ------------------------------------------------------------------------------


def test_database_backups_and_folders_are_private(
    kms: Any, key: str, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0o022)
    try:
        backup = _applied(capsys, files, key)
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(files.db) == 0o600
    assert mode(files.db.parent) == 0o700
    assert mode(backup) == 0o600
    assert mode(files.backups) == 0o700


def test_read_only_corrupt_and_full_databases_are_input_errors(
    tmp_path: Path, key: str, files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = files.plan(capsys, key, "plan.json")
    apply = ("fix", "apply", "--key", key, "--plan", str(plan), "--yes")
    backups = ("--backup-dir", str(files.backups))
    # read-only: an existing database opened read-only (chmod does not stop root)
    files.db.parent.mkdir(parents=True)
    sqlite3.connect(files.db).close()
    code, _out, err = cli(capsys, "fix", "history", "--key", key, "--db", f"sqlite:///{files.db}")
    assert code == 0
    ro = f"sqlite:///file:{files.db}?mode=ro&uri=true"
    code, _out, err = cli(capsys, *apply, "--db", ro, *backups)
    assert code == 2, err
    assert str(files.db) in err
    assert "readonly" in err
    assert "Traceback" not in err
    assert not Path("file:").exists()  # the URI is not taken for a folder name
    # corrupt: not a database at all
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    code, _out, err = cli(capsys, "fix", "history", "--key", key, "--db", f"sqlite:///{corrupt}")
    assert code == 2, err
    assert str(corrupt) in err
    assert "not a database" in err or "malformed" in err
    # full: the process may not grow any file past 64 KB
    full = tmp_path / "full.sqlite3"
    proc = _limited_process(
        f"import sys; from kmsguard.cli import main\n"
        f"from kmsguard.store import PolicyVersionStore, open_database, VersionReason\n"
        f"store = PolicyVersionStore(open_database('sqlite:///{full}'))\n"
        f"store.save('k', 'x' * 200_000, VersionReason.BEFORE_APPLY)\n",
        limit=64 * 1024,
    )
    assert proc.returncode == 2, proc.stderr
    assert "DatabaseUnavailableError" in proc.stderr or "StoreError" in proc.stderr
    assert str(full) in proc.stderr


def _limited_process(code: str, *, limit: int) -> subprocess.CompletedProcess[str]:
    """Python running `code` with RLIMIT_FSIZE: writing past `limit` fails as a full disk
    does (SIGXFSZ ignored, so the write returns EFBIG); an uncaught kmsguard error exits 2."""
    wrapper = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from kmsguard.errors import KmsguardError\n"
        "try:\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + "except KmsguardError as exc:\n"
        "    print(type(exc).__name__, exc.message, file=sys.stderr)\n"
        "    sys.exit(int(exc.exit_code))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=60, check=False
    )


# -- item 8 ------------------------------------------------------------------------------


def _apply_process(key: str, plan: Path, files: Files) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kmsguard", "fix", "apply", "--key", key, "--plan", str(plan),
         "--yes", *files.store],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proxy: FaultProxy, operation: str, count: int = 1) -> None:
    ends = time.monotonic() + 30
    while proxy.operations[f"kms:{operation}"] < count:
        assert time.monotonic() < ends, dict(proxy.operations)
        time.sleep(0.02)


@pytest.fixture
def slow_put(proxy: FaultProxy) -> FaultProxy:
    proxy.plan.op_latency = {"PutKeyPolicy": 1.5}
    return proxy


def test_concurrent_applies_one_wins_the_other_exits_4_naming_its_version(
    kms: Any, key: str, files: Files, capsys: pytest.CaptureFixture[str], slow_put: FaultProxy
) -> None:
    first = files.plan(capsys, key, "first.json")
    second = files.plan(capsys, key, "second.json", "--strategy", "account")
    assert json.loads(first.read_text())["new_policy"] != json.loads(second.read_text())[
        "new_policy"
    ]
    winner = _apply_process(key, first, files)
    _wait_for(slow_put, "PutKeyPolicy")  # the winner holds the key, its write in flight
    loser = _apply_process(key, second, files)
    _w_out, w_err = winner.communicate(timeout=60)
    _l_out, l_err = loser.communicate(timeout=60)
    assert winner.returncode == 0, w_err
    assert loser.returncode == 4, l_err
    assert "another kmsguard run changed" in l_err
    assert "saved version 2 (applied" in l_err  # the winner's read-back version
    assert json.loads(live(kms, key)) == json.loads(first.read_text())["new_policy"]


def test_killed_holder_releases_the_key_and_the_next_run_names_its_write(
    kms: Any, key: str, files: Files, capsys: pytest.CaptureFixture[str], slow_put: FaultProxy
) -> None:
    first = files.plan(capsys, key, "first.json")
    second = files.plan(capsys, key, "second.json", "--strategy", "account")
    victim = _apply_process(key, first, files)
    _wait_for(slow_put, "PutKeyPolicy")
    victim.send_signal(signal.SIGKILL)  # dies holding the lock, its write still in flight
    victim.communicate(timeout=10)  # reaped, its pipes closed
    time.sleep(2.5)  # the proxy delivers the dead process's write
    started = time.monotonic()
    nxt = _apply_process(key, second, files)
    _out, err = nxt.communicate(timeout=60)
    assert time.monotonic() - started < 30  # the lock died with its holder
    assert nxt.returncode == 4, err
    assert "saved version 1 (before-apply" in err
    assert json.loads(live(kms, key)) == json.loads(first.read_text())["new_policy"]
