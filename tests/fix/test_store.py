"""Saved policy versions in a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmsguard.errors import InputError
from kmsguard.store import PolicyVersionStore, VersionReason, open_database, sha256_text
from kmsguard.store.database import default_db_url

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1"


def test_versions_round_trip_byte_for_byte_and_survive_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'kmsguard.sqlite3'}"
    store = PolicyVersionStore(open_database(url))
    odd = '{"Statement" :[ ]}\r\n\t \u00e9'
    first = store.save(KEY, odd, VersionReason.BEFORE_APPLY, backup_path="/b/1.json")
    second = store.save(KEY, "{}", VersionReason.APPLIED, note="plan abc")
    store.save(OTHER, "{}", VersionReason.BEFORE_APPLY)

    reopened = PolicyVersionStore(open_database(url))
    versions = reopened.versions(KEY)
    assert [v.id for v in versions] == [first.id, second.id]
    assert versions[0].policy == odd
    assert versions[0].sha256 == sha256_text(odd)
    assert versions[0].backup_path == "/b/1.json"
    assert versions[0].saved_at.tzinfo is not None
    assert reopened.get(KEY, second.id) == second
    assert reopened.get(KEY, 999) is None
    assert reopened.latest(KEY) == second
    assert reopened.latest(KEY, (VersionReason.BEFORE_APPLY,)) == versions[0]
    assert reopened.latest(KEY, (VersionReason.ROLLED_BACK,)) is None
    assert [v.key_arn for v in reopened.versions(OTHER)] == [OTHER]
    assert versions[1].to_json()["reason"] == "applied"


def test_bad_database_url_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not a usable database url"):
        open_database("nosuchdialect://x")


def test_default_database_lives_in_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path / 'kmsguard' / 'kmsguard.db'}"
