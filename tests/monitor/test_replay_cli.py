"""`kmsguard monitor replay`: files in file-name order, lines in order, garbage named (exit 2),
and the same alerts as a queue consumer would give."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main

from .events import envelope, key_arn, private_policy, public_policy, put_policy


def t(minute: int) -> str:
    return f"2026-11-20T10:{minute:02d}:00Z"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        with pytest.raises(SystemExit) as info:
            main(["monitor", "replay", *args])
        out = capsys.readouterr()
        return Result(int(info.value.code or 0), out.out, out.err)

    return invoke


def _alerts(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_file_name_order_then_line_order(tmp_path: Path, run: Callable[..., Result]) -> None:
    events = tmp_path / "events"
    events.mkdir()
    # b.jsonl is read after a.json whatever the times say: the private policy of 10:05 in
    # a.json is applied first, so the public one of 10:03 in b.jsonl is stale
    (events / "a.json").write_text(json.dumps(put_policy(private_policy(), time=t(5))))
    lines = [
        put_policy(public_policy(), time=t(3), event_id="stale"),
        put_policy(public_policy(), time=t(6), event_id="public"),
        put_policy(private_policy(), time=t(7), event_id="fixed"),
    ]
    (events / "b.jsonl").write_text("\n".join(json.dumps(envelope(x)) for x in lines) + "\n")
    result = run("--db", f"sqlite:///{tmp_path / 's.sqlite3'}", str(events))
    assert result.exit_code == 0, result.output
    alerts = _alerts(result.stdout)
    assert [(a["type"], a["event_id"]) for a in alerts] == [
        ("exposed", "public"),
        ("resolved", "fixed"),
    ]
    assert '"stale": 1' in result.stderr


def test_cloudtrail_log_file_gz_and_json_array(tmp_path: Path, run: Callable[..., Result]) -> None:
    log = tmp_path / "111122223333_CloudTrail_eu-west-1_20261120T1000Z_X.json.gz"
    log.write_bytes(
        gzip.compress(json.dumps({"Records": [put_policy(public_policy(), key_arn(1))]}).encode())
    )
    array = tmp_path / "more.json"
    array.write_text(json.dumps([put_policy(public_policy(), key_arn(2))]))
    result = run("--db", f"sqlite:///{tmp_path / 's.sqlite3'}", str(log), str(array))
    assert result.exit_code == 0, result.output
    assert [a["key_arn"] for a in _alerts(result.stdout)] == [key_arn(1), key_arn(2)]


def test_garbage_is_named_and_exits_2(tmp_path: Path, run: Callable[..., Result]) -> None:
    good = json.dumps(put_policy(public_policy(), event_id="good"))
    (tmp_path / "mixed.jsonl").write_text("{broken\n" + good + "\n[1]\n")
    (tmp_path / "trunc.json.gz").write_bytes(gzip.compress(b'{"Records": []}')[:-6])
    result = run("--db", f"sqlite:///{tmp_path / 's.sqlite3'}", str(tmp_path))
    assert result.exit_code == 2
    assert "mixed.jsonl:1" in result.stderr
    assert "mixed.jsonl:3" in result.stderr
    assert "trunc.json.gz" in result.stderr
    assert "Traceback" not in result.output
    assert [(a["type"], a["event_id"]) for a in _alerts(result.stdout)] == [
        ("error", None),
        ("exposed", "good"),
        ("error", None),
    ]


def test_replaying_twice_alerts_once(tmp_path: Path, run: Callable[..., Result]) -> None:
    (tmp_path / "e.json").write_text(json.dumps(put_policy(public_policy())))
    db = f"sqlite:///{tmp_path / 's.sqlite3'}"
    assert len(_alerts(run("--db", db, str(tmp_path / "e.json")).stdout)) == 1
    assert _alerts(run("--db", db, str(tmp_path / "e.json")).stdout) == []


def test_bad_usage(tmp_path: Path, run: Callable[..., Result]) -> None:
    missing = run(str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run("--db", f"sqlite:///{tmp_path / 's.sqlite3'}", str(tmp_path / "empty"))
    assert empty.exit_code == 2
    assert "no event files" in empty.stderr
    bad_hook = run("--webhook-url", "ftp://x", str(tmp_path))
    assert bad_hook.exit_code == 2
    assert "not an http(s) URL" in bad_hook.stderr
    bad_org = run("--org-id", "org-1", str(tmp_path))
    assert bad_org.exit_code == 2


def test_installed_command_runs(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text(json.dumps(put_policy(public_policy())))
    done = subprocess.run(
        [sys.executable, "-m", "kmsguard", "monitor", "replay", "--db",
         f"sqlite:///{tmp_path / 's.sqlite3'}", str(tmp_path / "e.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["type"] == "exposed"


def test_hostile_files(tmp_path: Path, run: Callable[..., Result]) -> None:
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.jsonl"
    good = json.dumps(put_policy(public_policy(), event_id="after-huge"))
    with huge.open("w") as handle:
        handle.write("x" * (3 * 1024 * 1024) + "\n" + good + "\n")
    result = run("--db", f"sqlite:///{tmp_path / 's.sqlite3'}", str(fifo), str(huge))
    assert result.exit_code == 2
    assert "pipe.json`: not a regular file" in result.stderr
    assert "huge.jsonl:1`: a line over 1048576 bytes" in result.stderr
    assert [a["event_id"] for a in _alerts(result.stdout)] == ["after-huge"]
