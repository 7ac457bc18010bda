"""Items 5 and 13 (eventTime): a gzip bomb is named and skipped within a configurable cap;
an eventTime that is not a time is never a `last_seen` and never passes `--since`."""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path

from .helpers import run
from .test_local_files import _log, _record


def _bomb(path: Path, mebibytes: int) -> Path:
    """Gzip members of 16 MiB of zeros, concatenated (a valid gzip file): ~16 KB each."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = c.compress(b"\0" * (16 << 20)) + c.flush()
    path.write_bytes(member * (mebibytes // 16))
    return path


def test_gzip_bomb_is_named_skipped_and_the_rest_reported(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _log(logs / "good.json.gz", [_record("2026-11-20T10:00:00Z")])
    bomb = _bomb(logs / "bomb.json.gz", 1024)  # 1 GiB from ~1 MB
    assert bomb.stat().st_size < 2 << 20
    started = time.monotonic()
    proc = run("usage", "--format", "json", "--jobs", "1", str(logs), timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert time.monotonic() - started < 60
    report = json.loads(proc.stdout)
    assert [s["name"] for s in report["skipped"]] == [str(bomb)]
    assert "gzip bomb" in report["skipped"][0]["reason"]
    assert f"skipped `{bomb}`" in proc.stderr
    assert [k["key_arn"].rsplit("/", 1)[-1] for k in report["keys"]] == ["k1"]


def test_decompressed_cap_is_configurable(tmp_path: Path) -> None:
    records = [_record("2026-11-20T10:00:00Z") for _ in range(3000)]  # ~3 MB of JSON
    log = _log(tmp_path / "big.json.gz", records)
    proc = run("usage", "--format", "json", "--max-log-size", "1", str(log))
    assert proc.returncode == 4
    assert "more than 1 MB" in json.loads(proc.stdout)["skipped"][0]["reason"]
    proc = run("usage", "--format", "json", "--max-log-size", "8", str(log))
    assert proc.returncode == 0, proc.stderr
    [key] = json.loads(proc.stdout)["keys"]
    assert key["calls"] == 3000


def test_bomb_memory_is_bounded_by_the_cap(tmp_path: Path) -> None:
    bomb = _bomb(tmp_path / "bomb.json.gz", 2048)  # 2 GiB
    proc = run(
        "-c",
        "import resource, sys; from kmsguard.cli import main\n"
        "try:\n"
        f"    main(['usage', '--jobs', '1', '--max-log-size', '64', {str(bomb)!r}])\n"
        "except SystemExit as e:\n"
        "    print(e.code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n",
        python=True,
    )
    code, max_rss_kb = proc.stdout.split()[-2:]  # after the report
    assert code == "4"
    assert int(max_rss_kb) < 400 * 1024, max_rss_kb  # well under the 2 GiB it expands to


def test_unparsable_event_time_is_rejected_not_last_seen(tmp_path: Path) -> None:
    log = _log(
        tmp_path / "logs" / "a.json.gz",
        [
            _record("2026-11-20T10:00:00Z"),
            _record("zzzz-not-a-time"),  # sorts after every real time as text
            _record("2026-11-21T01:00:00+05:00"),  # = 2026-11-20T20:00:00Z
        ],
    )
    proc = run("usage", "--format", "json", "--since", "2026-11-20", str(log))
    assert proc.returncode == 4, proc.stderr
    report = json.loads(proc.stdout)
    [key] = report["keys"]
    [caller] = key["callers"]
    assert caller["last_seen"] == "2026-11-20T20:00:00Z"
    assert caller["count"] == 2
    assert "zzzz-not-a-time" in report["skipped"][0]["reason"]
    # an offset time is compared as a time: 01:00+05:00 on the 21st is before the 21st UTC
    proc = run("usage", "--format", "json", "--since", "2026-11-21", str(log))
    assert json.loads(proc.stdout)["keys"] == []
