"""Item 13 (.tmp): a backup appears complete or not at all, and no temporary file is left,
whether the writer is killed (SIGKILL, a real process) or the disk fills up."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmsguard import safeio
from kmsguard.fix.backup import load_backup, write_backup
from kmsguard.store.database import StoreError

from .test_fix_integrity import _limited_process

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _assert_only_complete_backups(folder: Path) -> int:
    names = [p.name for p in folder.iterdir()]
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names
    for p in folder.iterdir():
        load_backup(p)  # complete and self-consistent
    return len(names)


def test_killed_writer_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from kmsguard.fix.backup import write_backup\n"
            "policy = 'x' * 3_000_000\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            f"    write_backup(__import__('pathlib').Path({str(folder)!r}), {KEY!r}, policy,"
            " 'before-apply')\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    writer.stdout.close()
    assert _assert_only_complete_backups(folder) > 0


def test_full_disk_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    proc = _limited_process(
        "from pathlib import Path\n"
        "from kmsguard.fix.backup import write_backup\n"
        f"write_backup(Path({str(folder)!r}), {KEY!r}, 'x' * 200_000, 'before-apply')\n",
        limit=64 * 1024,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write the backup" in proc.stderr
    assert list(folder.iterdir()) == []


def test_named_fallback_removes_its_temporary_file_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where O_TMPFILE is missing, a named temporary file is used and removed on error."""
    monkeypatch.setattr(safeio, "_write_unnamed", lambda _path, _data: False)
    real_write = os.write

    def full(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 1000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreError, match="No space left on device"):
        write_backup(tmp_path, KEY, "x" * 5000, "before-apply")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(os, "write", real_write)
    write_backup(tmp_path, KEY, "x" * 5000, "before-apply")
    assert _assert_only_complete_backups(tmp_path) == 1
