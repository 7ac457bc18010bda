"""Every supported IaC form, each asserting verdict, severity, rule and line number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import DATA

# (file under tests/iac/data, resource, line, verdict, severity, rule_id)
CASES = [
    # CloudFormation YAML with short-form tags
    ("cfn/public.yaml", "OpenKey", 6, "public", "critical", "KMS001"),
    ("cfn/conditioned_safe.yaml", "SafeKey", 3, "private", "none", None),
    ("cfn/cross_account_param.yaml", "PartnerKey", 12, "cross-account", "high", "KMS002"),
    # an account known only at deployment: the worse reading (another account) is reported
    ("cfn/unresolved.yaml", "ImportedKey", 6, "cross-account", "high", "KMS002"),
    ("cfn/unresolved.yaml", "ParamKey", 17, "cross-account", "high", "KMS002"),
    ("cfn/if_branches.yaml", "BranchKey", 9, "public", "high", "KMS001"),
    ("cfn/sam.yaml", "FnKey", 13, "private", "none", None),
    ("cfn/sam.yaml", "DefaultKey", 46, "private", "none", None),
    ("cfn/replica.yml", "Replica", 2, "cross-account", "high", "KMS002"),
    # CloudFormation JSON (hand-written and CDK-synthesized)
    ("cfn/deny_guarded.json", "GuardedKey", 4, "private", "none", None),
    ("cfn/cdk_synth.template.json", "AppKeyA1B2C3D4", 3, "private", "none", None),
    ("cfn/cdk_synth.template.json", "SharedKeyF00D", 44, "public", "critical", "KMS001"),
    # Terraform: jsonencode, aws_caller_identity, network-only condition, no policy
    ("tf/jsonencode/main.tf", "aws_kms_key.public", 13, "public", "critical", "KMS001"),
    ("tf/jsonencode/main.tf", "aws_kms_key.own_account_condition", 37, "private", "none", None),
    ("tf/jsonencode/main.tf", "aws_kms_key.network_only", 54, "public", "high", "KMS001"),
    ("tf/jsonencode/main.tf", "aws_kms_key.defaulted", 67, "private", "none", None),
    # Terraform: heredoc with a variable default, file(), templatefile()
    (
        "tf/heredoc_file/main.tf",
        "aws_kms_key.heredoc_partner",
        6,
        "cross-account",
        "high",
        "KMS002",
    ),
    ("tf/heredoc_file/main.tf", "aws_kms_key.from_file", 23, "public", "critical", "KMS001"),
    (
        "tf/heredoc_file/main.tf",
        "aws_kms_replica_key.from_template",
        27,
        "cross-account",
        "high",
        "KMS002",
    ),
    # Terraform: aws_iam_policy_document with locals, source/override documents,
    # not_principals, dynamic blocks and aws_kms_key_policy
    ("tf/policy_document/main.tf", "aws_kms_key.guarded", 41, "private", "none", None),
    ("tf/policy_document/main.tf", "aws_kms_key.overridden", 59, "public", "critical", "KMS001"),
    (
        "tf/policy_document/main.tf",
        "aws_kms_key.not_principals",
        75,
        "public",
        "critical",
        "KMS001",
    ),
    (
        "tf/policy_document/main.tf",
        "aws_kms_key_policy.separate",
        83,
        "cross-account",
        "high",
        "KMS002",
    ),
    # Terraform: grants
    ("tf/grants/main.tf", "aws_kms_grant.internal", 11, "private", "none", None),
    ("tf/grants/main.tf", "aws_kms_grant.external", 18, "cross-account", "high", "KMS004"),
    # Terraform: what cannot be known before plan
    ("tf/unresolved/main.tf", "aws_kms_key.needs_input", 5, "cross-account", "high", "KMS002"),
    ("tf/unresolved/main.tf", "aws_kms_key.from_module", 17, "unresolved", "none", "KMS006"),
    # Terraform: a module in a subfolder, judged with its variable default
    ("tf/stack/modules/kms/main.tf", "aws_kms_key.this", 12, "cross-account", "high", "KMS002"),
    # Terraform: for_each / count instances
    ("tf/instances/main.tf", "aws_kms_key.per_consumer", 10, "cross-account", "high", "KMS002"),
    ("tf/instances/main.tf", "aws_kms_key.counted", 28, "public", "critical", "KMS001"),
    # Terraform JSON syntax (CDK for Terraform output)
    ("tf/cdktf/cdk.tf.json", "aws_kms_key.key_3C4D", 33, "public", "critical", "KMS001"),
    ("tf/cdktf/cdk.tf.json", "aws_kms_key.own_5E6F", 38, "private", "none", None),
    # Terraform plan JSON: resolved values, unknown after apply, grants, modules
    ("plan/tfplan.json", "aws_kms_key.open", 8, "public", "critical", "KMS001"),
    ("plan/tfplan.json", "module.app.aws_kms_key.own[0]", 31, "private", "none", None),
    ("plan/tfplan.json", "aws_kms_key.pending", 45, "unresolved", "none", "KMS006"),
    ("plan/tfplan.json", "aws_kms_grant.vendor", 57, "cross-account", "high", "KMS004"),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    import json

    from kmsguard.cli import main

    out = tmp_path_factory.mktemp("report") / "report.json"
    with pytest.raises(SystemExit):
        main(["scan", "iac", str(DATA), "--format", "json", "--output", str(out)])
    findings = json.loads(out.read_text())
    return {(Path(f["file"]).relative_to(DATA).as_posix(), f["resource"]): f for f in findings}


@pytest.mark.parametrize(
    ("file", "resource", "line", "verdict", "severity", "rule_id"),
    CASES,
    ids=[f"{c[0]}:{c[1]}" for c in CASES],
)
def test_form(
    report: dict[tuple[str, str], dict[str, Any]],
    file: str,
    resource: str,
    line: int,
    verdict: str,
    severity: str,
    rule_id: str | None,
) -> None:
    f = report[(file, resource)]
    assert (f["verdict"], f["severity"], f["rule_id"], f["line"]) == (
        verdict,
        severity,
        rule_id,
        line,
    )
    if verdict in ("public", "cross-account"):
        assert f["exposures"], "an exposure carries its evidence"
        assert all(e["witness"] for e in f["exposures"])
    if verdict == "unresolved":
        assert f["errors"], "an unresolved policy says why"


def test_plain_policy_files(report: dict[tuple[str, str], dict[str, Any]]) -> None:
    shared = report[("policies/shared-key-policy.json", None)]  # type: ignore[index]
    assert shared["verdict"] == "public"
    # an S3 bucket policy is not a key policy; a file() target is judged once, via Terraform
    files = {k[0] for k in report}
    assert "policies/s3-bucket-policy.json" not in files
    assert "tf/heredoc_file/policies/open.json" not in files


def test_nothing_else_is_reported(report: dict[tuple[str, str], dict[str, Any]]) -> None:
    expected = {(c[0], c[1]) for c in CASES} | {
        ("policies/shared-key-policy.json", None),
        ("tf/conditional/main.tf", "aws_kms_key.maybe_public"),
    }
    extra = set(report) - expected
    # keys without a policy attribute elsewhere are judged with the default policy
    assert all(report[k]["verdict"] == "private" for k in extra), extra
    assert not any(k[0] == "cfn/helm-chart.yaml" for k in report)


def test_if_branches_reports_the_worse_branch(
    report: dict[tuple[str, str], dict[str, Any]],
) -> None:
    f = report[("cfn/if_branches.yaml", "BranchKey")]
    assert f["details"]["branch"] == "condition IsDev=true"
    assert [e["actions"] for e in f["exposures"]] == [["kms:Encrypt"]]
    assert any("condition IsDev=false: private" in n for n in f["notes"])


def test_terraform_conditional_judges_both_branches(
    report: dict[tuple[str, str], dict[str, Any]],
) -> None:
    f = report[("tf/conditional/main.tf", "aws_kms_key.maybe_public")]
    assert f["verdict"] == "public"
    assert f["line"] == 15
    assert f["details"]["branch"].endswith("=true")


def test_account_makes_own_arns_private(kmsguard: Any) -> None:
    run = kmsguard(
        "scan",
        "iac",
        DATA / "tf" / "conditional",
        "--account",
        "123456789012",
        "--format",
        "json",
    )
    f = run.by_resource()["aws_kms_key.maybe_public"]
    assert f["verdict"] == "public"
    assert all(e["principals"] == ["*"] for e in f["exposures"])


def test_trusted_account_is_inside_the_zone(kmsguard: Any) -> None:
    path = DATA / "cfn" / "cross_account_param.yaml"
    assert (
        kmsguard("scan", "iac", path, "--format", "json").by_resource()["PartnerKey"]["verdict"]
        == "cross-account"
    )
    run = kmsguard("scan", "iac", path, "--trusted-account", "111122223333", "--format", "json")
    assert run.by_resource()["PartnerKey"]["verdict"] == "private"
    assert run.code == 0


def test_for_each_instances_report_the_worst(kmsguard: Any) -> None:
    run = kmsguard(
        "scan", "iac", DATA / "tf" / "instances", "--account", "123456789012", "--format", "json"
    )
    by = run.by_resource()
    f = by["aws_kms_key.per_consumer"]
    assert (f["verdict"], f["line"]) == ("cross-account", 10)
    assert f["details"]["branch"] == 'instance ["vendor"]'
    assert f["exposures"][0]["principals"] == ["999900001111"]
    counted = by["aws_kms_key.counted"]
    assert (counted["verdict"], counted["line"]) == ("public", 28)
    assert counted["exposures"][0]["statements"] == ["R0"]


def test_module_arguments_of_the_caller_are_used(
    report: dict[tuple[str, str], dict[str, Any]],
) -> None:
    f = report[("tf/stack/modules/kms/main.tf", "aws_kms_key.this")]
    # the calling module passes 111122223333; the variable's default is 555566667777
    assert f["exposures"][0]["principals"] == ["111122223333"]
    assert f["details"]["branch"].startswith("module.kms (")
