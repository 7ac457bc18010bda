"""Items 11 and 12: values from input (Sids, aliases, tag values, principals, encryption
context, file names) can neither drive the terminal, forge report lines, break JUnit XML,
nor run as spreadsheet formulas; SARIF and JSON stay valid with any input."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from kmsguard.cli import main
from kmsguard.report.escape import csv_cell, terminal, xml_text
from tests.integration.aws_seed import OWN, create_key, kms

from .helpers import ACCOUNT, policy, run
from .test_local_files import _log, _record

# clear screen, set the window title (OSC), bell, a forged report line, a C1 CSI, a bidi
# override, and a lone surrogate (valid as a JSON escape)
EVIL = "\x1b[2J\x1b]0;pwned\x07\n[critical] public: nothing to see\r\x9b31m\u202e\ud800"
FORMULA = "=cmd|' /C calc'!A0"

CONTROL = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, 0x9B)]


def _evil_policy(sid: str) -> dict[str, Any]:
    doc = policy(public=True)
    doc["Statement"][1]["Sid"] = sid
    return doc


def _assert_terminal_safe(text: str) -> None:
    assert not any(c in text for c in CONTROL), repr(text)
    assert "\u202e" not in text
    assert not any(line.startswith("[critical] public: nothing") for line in text.splitlines())


def test_check_text_escapes_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(_evil_policy(EVIL)))
    proc = run("check", "--account", ACCOUNT, str(path))
    assert proc.returncode == 3, proc.stderr
    _assert_terminal_safe(proc.stdout)
    assert "\\x1b[2J" in proc.stdout  # shown, not obeyed


def test_error_messages_with_hostile_file_names_are_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "\x1b]0;title\x07.json"
    bad.write_text("{not json")
    proc = run("check", str(bad))
    assert proc.returncode == 2
    _assert_terminal_safe(proc.stderr)
    assert "\\x1b]0;title\\x07.json" in proc.stderr


def _evil_tree(tmp_path: Path) -> Path:
    (tmp_path / "evil.json").write_text(json.dumps(_evil_policy(EVIL)))
    for i, c in enumerate(CONTROL):
        (tmp_path / f"c{i}.json").write_text(json.dumps(_evil_policy(f"S{c}id")))
    return tmp_path


def test_scan_iac_text_junit_sarif_json_with_any_sid(tmp_path: Path) -> None:
    tree = _evil_tree(tmp_path)
    common = ("scan", "iac", "--account", ACCOUNT, str(tree))
    text = run(*common)
    assert text.returncode == 3, text.stderr
    _assert_terminal_safe(text.stdout)
    junit = run(*common, "--format", "junit")
    root = ET.fromstring(junit.stdout.encode())  # well-formed whatever the Sid holds
    assert root.get("tests") == str(len(CONTROL) + 1)
    sarif = run(*common, "--format", "sarif")
    assert len(json.loads(sarif.stdout)["runs"][0]["results"]) == len(CONTROL) + 1
    as_json = run(*common, "--format", "json")
    sids = {s for f in json.loads(as_json.stdout) for e in f["exposures"] for s in e["statements"]}
    assert EVIL in sids  # JSON keeps the exact value, escaped by JSON itself


@pytest.mark.integration
def test_scan_aws_csv_and_text_with_hostile_sid_and_alias(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = kms(aws_env, "us-east-1")
    for sid in (FORMULA, EVIL.replace("\ud800", "")):
        doc = _evil_policy(sid)
        doc["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{OWN}:root"}
        create_key(client, doc)

    def scan(fmt: str) -> str:
        with pytest.raises(SystemExit) as exc:
            main(["scan", "aws", "--region", "us-east-1", "--format", fmt])
        out, err = capsys.readouterr()
        assert exc.value.code == 3, (fmt, err, out[:2000])
        return out

    rows = list(csv.DictReader(io.StringIO(scan("csv"))))
    [row] = [r for r in rows if FORMULA in r["statements"]]
    assert row["statements"] == "'" + FORMULA  # a spreadsheet shows it, never runs it
    _assert_terminal_safe(scan("text"))
    json.loads(scan("json"))
    json.loads(scan("sarif"))
    json.loads(scan("asff"))


def test_usage_csv_and_text(tmp_path: Path) -> None:
    service = _record("2026-11-20T10:00:00Z")
    service["userIdentity"] = {"type": "AWSService", "invokedBy": FORMULA}
    evil_context = _record("2026-11-20T11:00:00Z")
    evil_context["requestParameters"] = {"encryptionContext": {"app": EVIL[:-1]}}
    log = _log(tmp_path / "a.json.gz", [service, evil_context])
    out = run("usage", "--format", "csv", str(log))
    assert out.returncode == 0, out.stderr
    principals = [r["principal"] for r in csv.DictReader(io.StringIO(out.stdout))]
    assert "'" + FORMULA in principals
    assert FORMULA not in principals
    text = run("usage", str(log))
    _assert_terminal_safe(text.stdout)
    json.loads(run("usage", "--format", "json", str(log)).stdout)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised(start: str) -> None:
    assert csv_cell(f"{start}1+1") == f"'{start}1+1"
    assert csv_cell("arn:aws:kms:x") == "arn:aws:kms:x"


def test_escapes_cover_every_control_character() -> None:
    controls = [chr(c) for c in range(0x110000) if c < 0x20 or 0x7F <= c <= 0x9F]
    surrogates = [chr(c) for c in range(0xD800, 0xE000)]
    for c in (*controls, *surrogates, "\u2028", "\u2029", "\u202e", "\u2066"):
        assert c not in terminal(f"a{c}b"), hex(ord(c))
    for c in (*controls, *surrogates, "\ufffe", "\uffff"):
        element = ET.Element("x", a=xml_text(c))
        element.text = xml_text(c)
        ET.fromstring(ET.tostring(element, encoding="unicode").encode("utf-8", "surrogatepass"))
