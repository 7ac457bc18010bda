"""The layering rules of docs/architecture.md are enforced, not only written down: a copy of
the source tree with one forbidden import per rule makes `lint-imports` (and, for printing
and exiting, `ruff`) fail, while the untouched copy passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent

#: contract name (as in pyproject.toml) -> (module written into the copy, its source)
VIOLATIONS = {
    "The policy engine is pure": ("policy/_bad.py", "import boto3\n"),
    # appended to the verifier: the planner's helpers are off limits
    "The remediation verifier shares no code with the planner": (
        "policy/remediation/verify.py",
        "import kmsguard.policy.remediation.plan_support\n",
    ),
    "Infrastructure as code and live AWS are separate sources": (
        "iac/_bad.py",
        "import kmsguard.aws.scan\n",
    ),
    "Renderers take results, never read": ("report/_bad.py", "import kmsguard.iac.scan\n"),
    "Only the CLI parses arguments or talks to the terminal": ("fix/_bad.py", "import click\n"),
    "Rich is a rendering library": ("usage/_bad.py", "import rich.console\n"),
    "The demo runs the product's own functions, not the CLI": (
        "demo/_bad.py",
        "import kmsguard.cli.fix\n",
    ),
}


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(BIN / "lint-imports"), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _contract_lines(output: str) -> str:
    # contract names wrap over two lines in lint-imports' report; join them
    return " ".join(output.split())


@pytest.mark.integration
def test_lint_imports_fails_on_each_forbidden_import(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    clean = _lint_imports(root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"{len(VIOLATIONS)} kept, 0 broken" in _contract_lines(clean.stdout)

    for module, source in VIOLATIONS.values():
        path = root / "src" / "kmsguard" / module
        path.write_text((path.read_text() if path.exists() else "") + source)
    broken = _lint_imports(root)
    report = _contract_lines(broken.stdout)
    assert broken.returncode != 0, report
    assert f"0 kept, {len(VIOLATIONS)} broken" in report
    for name, (module, _) in VIOLATIONS.items():
        assert name in report
        assert f"kmsguard.{module[:-3].replace('/', '.')}" in report


def test_only_cli_prints_or_exits(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    body = "import sys\n\n\ndef f() -> None:\n    print('x')\n    sys.exit(3)\n"
    outside = root / "src" / "kmsguard" / "fix" / "_talks.py"
    inside = root / "src" / "kmsguard" / "cli" / "_talks.py"
    outside.write_text(body)
    inside.write_text(body)
    out = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise",
         "--select", "T20,TID251", str(outside), str(inside)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    flagged = out.stdout.splitlines()
    assert any("fix/_talks.py" in line and "T201" in line for line in flagged)
    assert any("fix/_talks.py" in line and "TID251" in line for line in flagged)
    assert not any("cli/_talks.py" in line for line in flagged)


def test_no_module_outside_cli_raises_system_exit() -> None:
    # `raise SystemExit` is not an API ruff can ban; only the CLI turns errors into exit codes
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "src" / "kmsguard").rglob("*.py")
        if "SystemExit" in p.read_text()
        and "cli" not in p.relative_to(REPO / "src" / "kmsguard").parts
        and p.name != "make_cloudtrail.py"  # a maintainer script run with `python`
    ]
    assert offenders == []
