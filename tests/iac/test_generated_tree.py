"""The benchmark's generated tree, small: every exposed key found, no safe key flagged."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def _generate() -> Any:
    spec = importlib.util.spec_from_file_location("iac_generate", REPO / "bench/iac/generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def test_recall_and_precision_on_generated_tree(kmsguard: Any, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    truth = _generate()(tree, 600, kms_share=0.1)
    run = kmsguard("scan", "iac", tree, "--format", "json")
    verdicts = {
        f"{Path(f['file']).relative_to(tree).as_posix()}::{f['resource']}": f["verdict"]
        for f in run.json()
        if f["resource"]
    }
    forms = {v["form"] for v in truth.values()}
    assert len(forms) >= 15  # every form of the benchmark is in the small tree too
    for key, label in truth.items():
        flagged = verdicts.get(key) in ("public", "cross-account")
        assert flagged == label["exposed"], (key, label, verdicts.get(key))
