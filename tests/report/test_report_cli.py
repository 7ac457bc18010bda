"""`kmsguard report` input errors, and the rule that a missing test service fails under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run
from tests.services import require


def test_bad_since_is_an_input_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "report", "--db", f"sqlite:///{tmp_path / 'h.db'}",
                       "--since", "last tuesday")
    assert code == 2
    assert "--since `last tuesday` is not a date" in err


def test_bad_database_url_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "--db", "nosuchdialect://x")
    assert code == 2
    assert "not a usable database url" in err
    assert "Traceback" not in err


def test_unreachable_postgres_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    # a closed port on loopback: the connection is refused at once
    code, _, err = run(capsys, "report", "--db",
                       "postgresql+psycopg://kmsguard:secret@127.0.0.1:9/none")
    assert code == 2
    assert "cannot open the database" in err
    assert "secret" not in err  # the password is never printed


def test_empty_history_reports_zeros(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "report", "--db", f"sqlite:///{tmp_path / 'h.db'}")
    assert code == 0
    assert "keys with a public policy               0" in out
    assert "open findings: 0" in out


def test_html_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_file = tmp_path / "d.html"
    code, _, err = run(capsys, "report", "--db", f"sqlite:///{tmp_path / 'h.db'}",
                       "--format", "html", "-o", str(out_file))
    assert code == 0
    assert f"wrote {out_file}" in err
    assert out_file.read_text().startswith("<!DOCTYPE html>")


def test_missing_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMSGUARD_TEST_NOTHING", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Nothing is not available"):
        require("KMSGUARD_TEST_NOTHING", "Nothing")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        require("KMSGUARD_TEST_NOTHING", "Nothing")
