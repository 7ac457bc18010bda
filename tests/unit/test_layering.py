"""The engine stays pure: importing every `kmsguard.policy` module pulls in no AWS client,
no CLI, no database and no printing library (ARCHITECTURE.md, STYLE.md item 1)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import kmsguard.policy

FORBIDDEN = ("boto3", "botocore", "click", "rich", "sqlalchemy", "duckdb", "kmsguard.cli")


def test_policy_package_imports_nothing_impure() -> None:
    modules = [f"kmsguard.policy.{m.name}" for m in pkgutil.iter_modules(kmsguard.policy.__path__)]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    bad = [m for m in loaded if m.split(".")[0] in FORBIDDEN or m.startswith("kmsguard.cli")]
    assert len(modules) > 8
    assert bad == []
