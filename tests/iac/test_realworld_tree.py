"""The real-world-shaped tree of `bench/iac/realworld.py`, small: no crash, every module
instance, `count` index and apply-time value judged, only `AWS::Include` left unresolved."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def _generate() -> Any:
    path = REPO / "bench/iac/realworld.py"
    spec = importlib.util.spec_from_file_location("iac_realworld", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def test_realworld_tree(kmsguard: Any, tmp_path: Path) -> None:
    expected = _generate()(tmp_path / "tree", 2)
    run = kmsguard("scan", "iac", tmp_path / "tree", "--format", "json")
    findings = run.json()
    assert len(findings) == expected
    verdicts = Counter(f["verdict"] for f in findings)
    assert verdicts["error"] == 0
    unresolved = [f for f in findings if f["verdict"] == "unresolved"]
    assert [f["resource"] for f in unresolved] == ["IncludeKey0"]
    by = {(Path(f["file"]).parent.name, f["resource"]): f for f in findings}
    # env1: instance 9 of 12 is public; env0 asks for instance 99, which does not exist
    assert by[("env1", "aws_kms_key.per_index")]["verdict"] == "public"
    assert by[("env1", "aws_kms_key.per_index")]["details"]["branch"] == "instance [9]"
    assert by[("env0", "aws_kms_key.per_index")]["verdict"] == "private"
    # the KMS module, called per tenant: env0 has an outside tenant
    kms = by[("kms", "aws_kms_key.this")]
    assert kms["verdict"] == "cross-account"
    assert kms["details"]["branch"].startswith('module.kms["outside"] (')
    assert by[("env0", "aws_kms_key.blank")]["verdict"] == "private"
    assert "module `vpc` (`terraform-aws-modules/vpc/aws`) was not followed" in run.err
