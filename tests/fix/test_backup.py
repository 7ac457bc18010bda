"""Backup files: complete or absent, never half-written; damage is detected."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kmsguard.errors import InputError
from kmsguard.fix.backup import read_backup, write_backup
from kmsguard.store import StoreError

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
POLICY = '{"Version": "2012-10-17",\n "Statement": []}  '


def test_backup_round_trip(tmp_path: Path) -> None:
    path = write_backup(tmp_path / "b", KEY, POLICY, "before-apply")
    assert path.parent == tmp_path / "b"
    assert path.name.startswith("1234abcd-12ab-34cd-56ef-1234567890ab-")
    assert read_backup(path) == (KEY, POLICY)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_damaged_backup_is_detected(tmp_path: Path) -> None:
    path = write_backup(tmp_path, KEY, POLICY, "before-apply")
    data = json.loads(path.read_text())
    data["policy"] = POLICY.replace("2012", "2008")
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="damaged"):
        read_backup(path)


def test_interrupted_write_leaves_no_partial_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", crash)  # the step that gives the complete file its name
    with pytest.raises(KeyboardInterrupt):
        write_backup(tmp_path, KEY, POLICY, "before-apply")
    assert not list(tmp_path.iterdir())  # no partial backup, no temporary file


def test_unwritable_backup_folder_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot write the backup"):
        write_backup(blocker / "sub", KEY, POLICY, "before-apply")
