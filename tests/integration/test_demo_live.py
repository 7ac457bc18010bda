"""`kmsguard demo` end to end as a user runs it: a real process that starts its own moto
server on 127.0.0.1, runs the whole flow, writes the dashboard and report, and stops the
server at the end and on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kmsguard.cli import main

pytestmark = pytest.mark.integration


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp / "none")
    env["XDG_DATA_HOME"] = str(tmp / "data")  # the user's own history is never touched
    return env


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_full_demo(tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = subprocess.run(
        [sys.executable, "-m", "kmsguard", "demo", "--output-dir", str(out)],
        capture_output=True, text=True, timeout=180, check=False, cwd=tmp_path,
        env=_env(tmp_path),
    )
    assert p.returncode == 0, p.stderr
    heads = [line for line in p.stdout.splitlines() if line.startswith("== ")]
    assert len(heads) == 8
    for command in ("kmsguard scan aws", "kmsguard scan iac", "kmsguard usage",
                    "kmsguard fix apply", "kmsguard monitor replay", "kmsguard report"):
        assert f"$ {command}" in p.stdout
    assert "[8/8] report" in p.stderr
    port = int(re.search(r"127\.0\.0\.1:(\d+)", p.stderr).group(1))  # type: ignore[union-attr]
    assert _port_closed(port)  # the stand-in is stopped
    assert f"dashboard: {out / 'dashboard.html'}" in p.stdout

    report = json.loads((out / "report.json").read_text())
    kpis = report["kpis"]
    # public: vpce-only, web-uploads, ml-scratch; orders-exports was fixed and resolved
    assert kpis["public_keys"]["now"] == 3
    assert kpis["public_keys"]["cross_account_now"] == 1
    mttr = kpis["mttr_critical_hours"]
    assert mttr["resolved"] == 2  # the monitored key (3 h 27 min 48 s) and the fixed key
    assert max(mttr["p90"], mttr["mean"]) == pytest.approx(3 + 27 / 60 + 48 / 3600, abs=1e-3)
    assert mttr["open_critical"] == 2
    assert kpis["owner_tag_share"]["share"] == 0.8
    assert kpis["blocked_before_deployment"]["misconfigurations"] == 2
    page = (out / "dashboard.html").read_text()
    assert "Chart.js v4" in page
    assert not (tmp_path / "data").exists()


def test_ctrl_c_stops_the_stand_in(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmsguard", "demo", "--output-dir", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=_env(tmp_path),
    )
    assert proc.stderr is not None
    port = None
    for line in proc.stderr:
        if match := re.search(r"127\.0\.0\.1:(\d+)", line):
            port = int(match.group(1))
        if line.startswith("[2/8]"):
            break
    assert port is not None
    assert not _port_closed(port)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    rest = proc.stderr.read()
    proc.stderr.close()
    assert code != 0
    assert "aborted" in rest or "interrupted" in rest  # click reports Ctrl-C as "aborted"
    assert _port_closed(port)


def test_without_the_extra_runs_the_bundled_part_and_says_how(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("kmsguard.demo.server.available", lambda: False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["demo"])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    assert "== 4. A verified fix" in out
    assert "pip install 'kmsguard[demo]'" in err
