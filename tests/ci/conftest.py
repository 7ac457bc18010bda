"""Fixtures for the CI and terminal tests: the real CLI in process, and a throwaway git
repository holding templates (a real `git init`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.iac.conftest import kmsguard  # noqa: F401  # re-exported fixture: the same in-process CLI runner

DATA = Path(__file__).resolve().parents[1] / "iac" / "data"
SCHEMA = Path(__file__).resolve().parents[1] / "iac" / "schema" / "sarif-schema-2.1.0.json"
ENV = (
    "KMSGUARD_CONFIG",
    "KMSGUARD_ACCOUNT",
    "KMSGUARD_ORG_ID",
    "KMSGUARD_FAIL_ON",
    "KMSGUARD_BASELINE",
    "KMSGUARD_DB",
    "KMSGUARD_TRUSTED_ACCOUNTS",
    "KMSGUARD_TRUSTED_ORGS",
    "KMSGUARD_TRUSTED_OU_PATHS",
    "COLUMNS",
    "NO_COLOR",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


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
