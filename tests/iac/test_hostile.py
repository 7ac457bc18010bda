"""Hostile input: each problem is one clear per-file error, the rest of the scan goes on,
and memory stays bounded."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import DATA

PUBLIC_TF = (DATA / "tf" / "jsonencode" / "main.tf").read_text()


def _tree(tmp_path: Path) -> Path:
    """A folder with one good Terraform key next to the hostile file under test."""
    good = tmp_path / "good"
    good.mkdir(parents=True)
    (good / "main.tf").write_text(PUBLIC_TF)
    return tmp_path


def _errors(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(f["file"]).name: f for f in findings if f["verdict"] == "error"}


def _assert_rest_scanned(findings: list[dict[str, Any]]) -> None:
    public = [f for f in findings if f["resource"] == "aws_kms_key.public"]
    assert public
    assert public[0]["verdict"] == "public"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.yaml",
            "Resources:\n  K:\n    Type: AWS::KMS::Key\n    Properties: [\n",
            "malformed YAML",
        ),
        ("bad.json", '{"Resources": {"K": {"Type": "AWS::KMS::Key",}}', "malformed JSON"),
        ("bad.tf", 'resource "aws_kms_key" "k" {\n  policy = \n}\n', "malformed HCL"),
        ("tabs.template", 'Resources:\n\tK: {Type: "AWS::KMS::Key"}\n', "malformed YAML"),
        ("plan.json", '{"format_version": "1.2", "resource_changes": [', "malformed JSON"),
        ("latin1.yaml", "Type: AWS::KMS::Key # caf\xe9", "not UTF-8 text"),
    ],
)
def test_malformed_file_is_a_per_file_error(
    kmsguard: Any, tmp_path: Path, name: str, content: str, message: str
) -> None:
    root = _tree(tmp_path)
    data = content.encode("latin-1") if name.startswith("latin1") else content.encode()
    (root / name).write_bytes(data)
    run = kmsguard("scan", "iac", root, "--format", "json")
    findings = run.json()
    err = _errors(findings)[name]
    assert message in err["errors"][0]
    assert err["rule_id"] == "KMS007"
    _assert_rest_scanned(findings)
    assert run.code == 3  # the public key elsewhere still fails the build


def test_malformed_only_is_incomplete(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("Resources:\n  K: {Type: AWS::KMS::Key\n")
    run = kmsguard("scan", "iac", tmp_path)
    assert run.code == 4
    assert "malformed YAML" in run.out
    assert "Traceback" not in run.out + run.err


def test_malformed_error_has_the_line(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('\n\nresource "aws_kms_key" "k" {\n  policy = = 1\n}\n')
    f = _errors(kmsguard("scan", "iac", tmp_path, "--format", "json").json())["bad.tf"]
    assert f["line"] == 4


def test_yaml_alias_bomb(kmsguard: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for prev, cur in itertools.pairwise(names):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("Resources: {K: {Type: AWS::KMS::Key, Properties: {KeyPolicy: *i}}}")
    (root / "bomb.yaml").write_text("\n".join(lines) + "\n")
    findings = kmsguard("scan", "iac", root, "--format", "json").json()
    assert "alias bomb" in _errors(findings)["bomb.yaml"]["errors"][0]
    _assert_rest_scanned(findings)


def test_recursive_alias(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text(
        "Resources:\n  K:\n    Type: AWS::KMS::Key\n    Properties: &p {KeyPolicy: *p}\n"
    )
    findings = kmsguard("scan", "iac", tmp_path, "--format", "json").json()
    assert "recursive" in _errors(findings)["loop.yaml"]["errors"][0]


def test_big_file_is_refused_not_read(kmsguard: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    big = root / "huge.json"
    with big.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB that are never read
    findings = kmsguard("scan", "iac", root, "--format", "json").json()
    err = _errors(findings)["huge.json"]
    assert "over the 5.0 MB limit" in err["errors"][0]
    _assert_rest_scanned(findings)


def test_size_limit_is_configurable(kmsguard: Any, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(PUBLIC_TF)
    run = kmsguard("scan", "iac", tmp_path, "--max-file-size", "0.001", "--format", "json")
    assert "over the" in run.json()[0]["errors"][0]
    assert run.code == 4


def test_binary_file(kmsguard: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "blob.tf").write_bytes(b"resource \x00\x01\x02" * 100)
    findings = kmsguard("scan", "iac", root, "--format", "json").json()
    assert "binary" in _errors(findings)["blob.tf"]["errors"][0]
    _assert_rest_scanned(findings)


def test_symlink_loops(kmsguard: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "good" / "back").symlink_to(root, target_is_directory=True)
    (root / "self.tf").symlink_to(root / "self.tf")
    (root / "dangling.yaml").symlink_to(root / "missing.yaml")
    findings = kmsguard("scan", "iac", root, "--format", "json").json()
    errs = _errors(findings)
    assert "loop" in errs["back"]["errors"][0]
    assert "symbolic link" in errs["self.tf"]["errors"][0]
    assert "dangling.yaml" in errs
    # the good module is judged once, not once per path through the loop
    assert len([f for f in findings if f["resource"] == "aws_kms_key.public"]) == 1


def test_vendored_folders_are_skipped(kmsguard: Any, tmp_path: Path) -> None:
    for d in (".terraform/modules/x", "node_modules/pkg", ".git/objects"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "main.tf").write_text(PUBLIC_TF)
    run = kmsguard("scan", "iac", tmp_path, "--format", "json")
    assert run.json() == []
    assert run.code == 0


def test_missing_path_is_a_usage_error(kmsguard: Any, tmp_path: Path) -> None:
    run = kmsguard("scan", "iac", tmp_path / "nope")
    assert run.code == 2
    assert "no such file or folder" in run.err


def _peak_rss_kb(root: Path, out: Path) -> int:
    script = (
        "import resource, sys\n"
        "from kmsguard.cli import main\n"
        "try:\n"
        "    main(['scan', 'iac', sys.argv[1], '--format', 'json', '-o', sys.argv[2]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(root), str(out)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    return int(proc.stdout.strip().splitlines()[-1])


def test_memory_stays_bounded_with_a_real_50mb_file(tmp_path: Path) -> None:
    """A real (not sparse) 50 MB template-looking file must not raise peak memory by its
    size: it is refused from its size, never read."""
    root = _tree(tmp_path / "tree")
    out = tmp_path / "r.json"
    baseline = _peak_rss_kb(root, out)
    with (root / "huge.yaml").open("wb") as fh:
        chunk = b"# AWS::KMS::Key " + b"x" * 1000 + b"\n"
        for _ in range(50 * 1024):
            fh.write(chunk)
    peak = _peak_rss_kb(root, out)
    assert peak < baseline + 20 * 1024, f"peak RSS {peak} KB, baseline {baseline} KB"
    errs = _errors(json.loads(out.read_text()))
    assert "over the" in errs["huge.yaml"]["errors"][0]
