"""Fixtures for the CI and terminal tests: the real CLI in process, and a throwaway git
repository holding templates (a real `git init`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main

DATA = Path(__file__).resolve().parents[1] / "iac" / "data"
SCHEMA = Path(__file__).resolve().parents[1] / "iac" / "schema" / "sarif-schema-2.1.0.json"
ENV = (
    "KMSGUARD_CONFIG",
    "KMSGUARD_ACCOUNT",
    "KMSGUARD_ORG_ID",
    "KMSGUARD_FAIL_ON",
    "KMSGUARD_BASELINE",
    "KMSGUARD_TRUSTED_ACCOUNTS",
    "KMSGUARD_TRUSTED_ORGS",
    "KMSGUARD_TRUSTED_OU_PATHS",
    "COLUMNS",
    "NO_COLOR",
)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def kmsguard(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str | Path) -> Run:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        code = exc.value.code
        return Run(code if isinstance(code, int) else 1, captured.out, captured.err)

    return run


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a CloudFormation template and a Terraform module."""
    root = tmp_path / "repo"
    (root / "infra" / "cfn").mkdir(parents=True)
    (root / "infra" / "tf").mkdir(parents=True)
    shutil.copy(DATA / "cfn" / "public.yaml", root / "infra" / "cfn" / "public.yaml")
    shutil.copy(
        DATA / "cfn" / "cross_account_param.yaml", root / "infra" / "cfn" / "partner.yaml"
    )
    for f in (DATA / "tf" / "jsonencode").glob("*.tf"):
        shutil.copy(f, root / "infra" / "tf" / f.name)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "config", "commit.gpgsign", "false")
    return root
