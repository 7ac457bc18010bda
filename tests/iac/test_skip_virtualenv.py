"""`scan iac .` in a repository must not judge templates inside a Python virtual environment
(kmsguard's own bundled demo templates live there once it is installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TEMPLATE = """\
Resources:
  OpenKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: kms:Decrypt
            Resource: "*"
"""


def test_virtualenv_and_site_packages_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(TEMPLATE)
    venv = tmp_path / "env"
    (venv / "lib" / "demo").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "demo" / "stack.yaml").write_text(TEMPLATE)
    (tmp_path / "site-packages" / "pkg").mkdir(parents=True)
    (tmp_path / "site-packages" / "pkg" / "stack.yaml").write_text(TEMPLATE)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kmsguard",
            "scan",
            "iac",
            str(tmp_path),
            "--format",
            "json",
            "--account",
            "123456789012",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    files = [Path(f["file"]).name for f in json.loads(out.stdout)]
    assert out.returncode == 3, out.stderr
    assert files == ["stack.yaml"]
