"""The pre-commit hook, run by the real `pre-commit` tool in a throwaway git repository.

The hook is the one `.pre-commit-hooks.yaml` ships (its entry, files pattern and
pass_filenames), declared as a `repo: local` hook with `language: system` pointing at this
checkout's installed `kmsguard`: `language: python` would have pre-commit build a fresh
environment from the package index for every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import git

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

MODULE = """resource "aws_kms_key" "shared" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Admin"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${var.owner}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "Use"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${var.consumer}:root" }
        Action    = "kms:Decrypt"
        Resource  = "*"
      }
    ]
  })
}
"""
VARIABLES = """variable "owner" {
  default = "123456789012"
}

variable "consumer" {
  default = "%s"
}
"""


def _hook_config() -> str:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    entry = hook["entry"].split()
    assert entry[0] == "kmsguard"
    local = {
        "id": hook["id"],
        "name": hook["name"],
        "entry": " ".join([str(BIN / "kmsguard"), *entry[1:]]),
        "language": "system",
        "files": hook["files"],
        "pass_filenames": hook["pass_filenames"],
        "require_serial": hook["require_serial"],
    }
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]})


def _pre_commit(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("KMSGUARD_CONFIG", None)
    return subprocess.run(
        [str(BIN / "pre-commit"), "run", "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_hook_judges_changed_files_with_their_module_and_honours_the_baseline(
    repo: Path, tmp_path: Path
) -> None:
    home = tmp_path / "pre-commit-home"
    (repo / "infra" / "mod").mkdir()
    (repo / "infra" / "mod" / "main.tf").write_text(MODULE)
    (repo / "infra" / "mod" / "variables.tf").write_text(VARIABLES % "123456789012")
    (repo / ".pre-commit-config.yaml").write_text(_hook_config())
    (repo / ".kmsguard.toml").write_text(
        'account = "123456789012"\nfail-on = "high"\n\n[iac]\n'
        'baseline = ".kmsguard-baseline.json"\n'
    )
    # the findings the repository has today are accepted once
    accepted = subprocess.run(
        [str(BIN / "kmsguard"), "scan", "iac", ".", "--write-baseline", ".kmsguard-baseline.json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    git(repo, "add", "-A")
    first = _pre_commit(repo, home)
    assert first.returncode == 0, first.stdout
    git(repo, "commit", "-qm", "initial", "--no-verify")

    # touching a template whose findings are accepted does not block the commit
    public = repo / "infra" / "cfn" / "public.yaml"
    public.write_text("# reviewed\n" + public.read_text())
    git(repo, "add", "-A")
    touched = _pre_commit(repo, home)
    assert touched.returncode == 0, touched.stdout
    git(repo, "commit", "-qm", "touch", "--no-verify")

    # only variables.tf changes; the key in main.tf becomes cross-account: blocked
    (repo / "infra" / "mod" / "variables.tf").write_text(VARIABLES % "999988887777")
    git(repo, "add", "-A")
    blocked = _pre_commit(repo, home)
    assert blocked.returncode == 1, blocked.stdout
    assert "aws_kms_key.shared" in blocked.stdout
    assert "KMS002" in blocked.stdout
    assert "main.tf" in blocked.stdout
    assert "public.yaml" not in blocked.stdout  # unchanged files are not judged

    # a file the hook does not look at is not scanned
    git(repo, "reset", "-q", "--hard")
    (repo / "README.md").write_text("hello\n")
    git(repo, "add", "-A")
    skipped = _pre_commit(repo, home)
    assert skipped.returncode == 0
    assert "Skipped" in skipped.stdout or "no files to check" in skipped.stdout
