"""The config file: discovery (up to the repository root, pyproject.toml), precedence
(flag > environment > file > default), validation with file, line and key, `config show`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PARTNER = Path("infra/cfn/partner.yaml")  # cross-account, high


def test_found_from_a_subfolder_and_flags_env_file_default_in_that_order(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "infra" / "cfn")
    assert kmsguard("scan", "iac", "partner.yaml").code == 3  # default fail-on: low
    (repo / ".kmsguard.toml").write_text('# gate\nfail-on = "critical"\n')
    assert kmsguard("scan", "iac", "partner.yaml").code == 0  # the file
    monkeypatch.setenv("KMSGUARD_FAIL_ON", "high")
    assert kmsguard("scan", "iac", "partner.yaml").code == 3  # env beats the file
    assert kmsguard("scan", "iac", "partner.yaml", "--fail-on", "critical").code == 0  # flag

    shown = kmsguard("config", "show", "--format", "json").json()
    assert shown["file"] == str((repo / ".kmsguard.toml").resolve())
    assert shown["commands"]["iac"]["fail-on"] == {
        "value": "high",
        "from": "environment KMSGUARD_FAIL_ON",
    }
    monkeypatch.delenv("KMSGUARD_FAIL_ON")
    shown = kmsguard("config", "show", "--format", "json").json()
    assert shown["commands"]["check"]["fail-on"]["from"].endswith(".kmsguard.toml:2")
    assert shown["commands"]["aws"]["role"]["from"] == "default"
    text = kmsguard("config", "show").out
    assert 'fail-on = "critical"    # ' in text
    assert ".kmsguard.toml:2" in text


def test_a_section_wins_over_the_top_level_and_sets_format_and_output(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / ".kmsguard.toml").write_text(
        'fail-on = "low"\n[iac]\nfail-on = "critical"\nformat = "sarif"\n'
        'output = "reports/kmsguard.sarif"\n'
    )
    (repo / "reports").mkdir()
    monkeypatch.chdir(repo / "infra")
    run = kmsguard("scan", "iac", ".")
    assert run.code == 3  # public.yaml is critical
    assert run.out == ""
    assert '"version": "2.1.0"' in (repo / "reports" / "kmsguard.sarif").read_text()
    assert kmsguard("check", DATA_POLICY).code == 3  # check keeps the top-level "low"


DATA_POLICY = Path(__file__).resolve().parents[1] / "iac" / "data" / "policies"


def test_pyproject_table_and_the_repository_root_bounds_the_search(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo.parent / ".kmsguard.toml").write_text('fail-on = "critical"\n')  # above the repo
    monkeypatch.chdir(repo / "infra")
    assert kmsguard("config", "show", "--format", "json").json()["file"] is None
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.kmsguard.iac]\nfail-on = "critical"\n'
    )
    shown = kmsguard("config", "show", "--format", "json").json()
    assert shown["file"].endswith("repo/pyproject.toml")
    assert shown["commands"]["iac"]["fail-on"]["from"].endswith("pyproject.toml:5")
    assert kmsguard("scan", "iac", "cfn/partner.yaml").code == 0


def test_outside_a_repository_only_the_working_directory_counts(
    kmsguard: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".kmsguard.toml").write_text('fail-on = "critical"\n')
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert kmsguard("config", "show", "--format", "json").json()["file"] is None
    monkeypatch.chdir(tmp_path)
    assert kmsguard("config", "show", "--format", "json").json()["file"] is not None


def test_config_flag_beats_the_environment_variable_which_beats_discovery(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    (repo / ".kmsguard.toml").write_text('fail-on = "low"\n')
    (repo / "ci.toml").write_text('fail-on = "critical"\n')
    (repo / "env.toml").write_text('fail-on = "info"\n')
    assert kmsguard("scan", "iac", PARTNER).code == 3
    monkeypatch.setenv("KMSGUARD_CONFIG", str(repo / "ci.toml"))
    assert kmsguard("scan", "iac", PARTNER).code == 0
    monkeypatch.setenv("KMSGUARD_CONFIG", str(repo / "env.toml"))
    assert kmsguard("scan", "iac", PARTNER, "--config", "ci.toml").code == 0
    assert kmsguard("scan", "iac", PARTNER, "--config=ci.toml").code == 0
    missing = kmsguard("scan", "iac", PARTNER, "--config", "nope.toml")
    assert missing.code == 2
    assert "nope.toml" in missing.err
    assert "no such file" in missing.err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('fail-on = "high"\nfailon = "low"\n', [":2: `failon` is not a setting"]),
        ('account = 123456789012\n', [":1: `account` must be a string"]),
        ('[iac]\n\n\nformat = "csv"\n', [":4: `iac.format` must be one of text, json, sarif"]),
        ('[aws]\nworkers = 0\nregions = ["moon-1"]\n', [":2: `aws.workers`", ":3: `aws.regions`"]),
        ('[iac]\nfail-on = "high"\nnope = 1\n', [":3: `iac.nope` is not a setting of [iac]"]),
        ('fail-on = "high\n', ["is not valid TOML", "line 1"]),
        (
            '[[iac.suppressions]]\nrule = "KMS001"\nfile = "x"\n\n'
            '[[iac.suppressions]]\nrule = "KMS001"\nreason = "r"\n',
            [":1: `iac.suppressions`: `reason` is required", ":5: `iac.suppressions`: give"],
        ),
    ],
)
def test_problems_name_the_file_line_and_key(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: list[str]
) -> None:
    monkeypatch.chdir(repo)
    (repo / ".kmsguard.toml").write_text(text)
    run = kmsguard("scan", "iac", PARTNER)
    assert run.code == 2
    assert "Traceback" not in run.err
    assert ".kmsguard.toml" in run.err
    for piece in expected:
        assert piece in run.err
    assert kmsguard("scan", "iac", "--help").code == 0  # help still works


def test_zone_of_trust_and_suppressions_from_the_file(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    run = kmsguard("scan", "iac", PARTNER)
    assert run.err.count("no owner account given") == 1
    (repo / ".kmsguard.toml").write_text(
        'account = "123456789012"\ntrusted-accounts = ["111122223333"]\n\n'
        "[[iac.suppressions]]\n"
        'rule = "KMS001"\nresource = "OpenKey"\nreason = "public by design"\n'
        "expires = 2999-01-01\n"
    )
    run = kmsguard("scan", "iac", "infra/cfn", "--format", "json")
    assert run.code == 0, run.out
    assert "no owner account given" not in run.err
    by = {f["resource"]: f for f in run.json()}
    assert by["OpenKey"]["suppressed"].startswith("public by design")
    assert by["PartnerKey" if "PartnerKey" in by else next(iter(set(by) - {"OpenKey"}))][
        "verdict"
    ] == "private"


def test_a_yaml_suppressions_file_still_works_with_a_deprecation_warning(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    (repo / "old.yaml").write_text(
        "suppressions:\n  - rule: KMS001\n    resource: OpenKey\n    reason: by design\n"
    )
    run = kmsguard("scan", "iac", "infra/cfn/public.yaml", "--config", "old.yaml")
    assert run.code == 0
    assert "deprecated" in run.err
    assert ".kmsguard.toml" in run.err
    other = kmsguard("check", DATA_POLICY, "--config", "old.yaml")
    assert other.code == 2
    assert "YAML/JSON suppressions file" in other.err


MIXED = """Resources:
  AppKey:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: Admin
            Effect: Allow
            Principal: {AWS: "arn:aws:iam::111122223333:root"}
            Action: "kms:*"
            Resource: "*"
          - Sid: App
            Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:role/app"}
            Action: "kms:Decrypt"
            Resource: "*"
"""


def test_without_an_account_a_literal_own_account_is_an_unknown_owner(
    kmsguard: Any, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    (repo / "mixed.yaml").write_text(MIXED)
    run = kmsguard("scan", "iac", "mixed.yaml")
    assert run.code == 0, run.out
    assert run.err.count("no owner account given") == 1
    assert "unknown owner: account 111122223333" in run.out
    (repo / ".kmsguard.toml").write_text('account = "444455556666"\n')
    assert kmsguard("scan", "iac", "mixed.yaml").code == 3  # a known owner: it is outside
