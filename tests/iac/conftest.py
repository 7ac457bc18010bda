"""Helpers for the IaC scan tests: run the real CLI in process, read its JSON report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = Path(__file__).resolve().parent / "schema" / "sarif-schema-2.1.0.json"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def by_resource(self) -> dict[str, dict[str, Any]]:
        return {f["resource"]: f for f in self.json() if f["resource"]}


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


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
