"""An undecided analysis is its own outcome everywhere — verdict `error`, rule KMS008
"could not decide", exit 4 — distinct from a policy that could not be read (KMS007); a
parse problem is an error by its kind, not by its wording; engine messages name no flag."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

import kmsguard.policy
from kmsguard import rules
from kmsguard.aws.keys import KeyRef, RawKey
from kmsguard.aws.result import KeyStatus, ScanResult
from kmsguard.aws.scan import PolicyJudge, judge_key
from kmsguard.cli import main
from kmsguard.iac.items import IacItem, Variant
from kmsguard.iac.scan import judge
from kmsguard.model import Origin, TrustZone, Verdict
from kmsguard.policy import analyze_policy, parse_policy
from kmsguard.policy.exposure import _Analysis
from kmsguard.policy.query import UndecidedError

A = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ZONE = TrustZone(account=A)
# a wildcard statement with a condition the shortcuts leave to the solver
POLICY: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*",
     "Resource": "*"},
    {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
     "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app-*"}}},
]}
TEXT = json.dumps(POLICY)


@pytest.fixture
def solver_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    def give_up(self: _Analysis, *args: Any) -> None:
        raise UndecidedError("solver returned unknown (timeout)")

    monkeypatch.setattr(_Analysis, "_judge_class", give_up)


@pytest.mark.usefixtures("solver_gives_up")
def test_the_engine_marks_an_undecided_assessment() -> None:
    a = analyze_policy(TEXT, ZONE)
    assert a.verdict is Verdict.ERROR
    assert a.undecided
    assert rules.rule_for_assessment(a) == rules.UNDECIDED
    assert any("could not decide" in e for e in a.errors)


def test_an_unreadable_policy_is_not_undecided() -> None:
    a = kmsguard.model.Assessment.unreadable("`Statement` is empty")
    assert not a.undecided
    assert rules.rule_for_assessment(a) == rules.UNREADABLE


@pytest.mark.usefixtures("solver_gives_up")
def test_live_scan_reports_could_not_decide_not_malformed_policy() -> None:
    raw = RawKey(KeyRef("k", KEY), {"KeyState": "Enabled", "KeyManager": "CUSTOMER"},
                 TEXT, (), (("owner", "team"),), ())
    key = judge_key(raw, A, "us-east-1", zone=ZONE, judge=PolicyJudge(), owner_keys=("owner",))
    assert key.errors == ()  # nothing failed to be read
    assert key.verdict is Verdict.ERROR
    assert key.status is KeyStatus.ERROR
    assert [f.rule_id for f in key.findings()] == [rules.UNDECIDED]
    scan = ScanResult(keys=(key,))
    assert scan.incomplete
    assert scan.severities() == ()
    assert "MalformedPolicy" not in json.dumps(scan.to_json())


@pytest.mark.usefixtures("solver_gives_up")
def test_iac_scan_reports_could_not_decide() -> None:
    item = IacItem(origin=Origin("main.tf", 3, "aws_kms_key.k"), variants=(Variant(policy=POLICY),))
    finding = judge(item, ZONE)
    assert finding.verdict is Verdict.ERROR
    assert finding.rule_id == rules.UNDECIDED


@pytest.mark.usefixtures("solver_gives_up")
def test_check_exits_4_with_rule_could_not_decide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.json"
    path.write_text(TEXT)
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--account", A, "--format", "json", str(path)])
    assert exit_info.value.code == 4
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["verdict"] == "error"
    assert rows[0]["rule_id"] == rules.UNDECIDED


def test_a_parse_problem_is_an_error_by_kind_not_by_wording() -> None:
    wildcard_arn = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "kms:Decrypt",
         "Resource": "*"}]}
    policy = parse_policy(wildcard_arn)
    assert policy.invalid
    assert not policy.warnings
    assert analyze_policy(policy, ZONE).errors == policy.invalid
    # an unknown operator whose name says "wildcard" is still only a note
    odd = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*",
         "Resource": "*", "Condition": {"wildcardMatch": {"aws:PrincipalTag/x": "y"}}}]}
    policy = parse_policy(odd)
    assert policy.warnings
    assert not policy.invalid
    a = analyze_policy(policy, ZONE)
    assert a.errors == ()
    assert any("wildcardMatch" in n for n in a.notes)


def test_engine_messages_name_no_cli_flag() -> None:
    root = Path(kmsguard.policy.__file__).resolve().parent
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    found = [
        f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and flag.search(node.value)
    ]
    assert found == []
