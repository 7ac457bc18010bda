"""Plain key policy files found by `scan iac` are judged as `kmsguard check` judges them:
the project's labeled corpus, every case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS


@pytest.mark.parametrize("batch", ["untrusted", "trusted"])
def test_corpus_verdicts(kmsguard: Any, batch: str) -> None:
    labels = json.loads((CORPUS / "key-policies" / "labels.json").read_text())
    args = ["--account", labels["account"], "--org-id", labels["org_id"]]
    if batch == "trusted":
        args += [
            a for acct in labels["trusted_batch_accounts"] for a in ("--trusted-account", acct)
        ]
    folder = CORPUS / "key-policies" / batch
    run = kmsguard("scan", "iac", folder, *args, "--format", "json")
    got = {Path(f["file"]).name: f for f in run.json()}
    cases = {c["file"]: c for c in labels["cases"].values() if c["batch"] == batch}
    assert set(got) == {Path(name).name for name in cases}
    for name, case in cases.items():
        f = got[Path(name).name]
        assert f["verdict"] in case["accept"], (name, f["verdict"])
        exposed = {a for e in f["exposures"] for a in e["actions"]}
        assert set(case["expose"]) <= exposed, name
        assert not set(case["not_expose"]) & exposed, name
