"""The Terraform expression evaluator on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmsguard.iac.items import Unresolved
from kmsguard.iac.terraform import Evaluator, Module, TfFile, scan_module
from kmsguard.iac.terraform.hcl import parse_hcl
from kmsguard.iac.unknowns import Unknown


def _eval(expr: str, extra: str = "") -> Any:
    text = f"{extra}\nlocals {{\n  x = {expr}\n}}\n"
    module = Module(Path(), ".")
    from kmsguard.iac.terraform.hcl import parse_body, trees

    _, blocks = parse_body(trees(parse_hcl(text))[0], Path("m.tf"), "m.tf")
    for b in blocks:
        module.add(b)
    return Evaluator(module, "123456789012", {})._local("x", 0)


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ('"a${1 + 2}b"', "a3b"),
        ('"$${literal}"', "${literal}"),
        ('format("arn:aws:iam::%s:root", "111122223333")', "arn:aws:iam::111122223333:root"),
        ('join(",", ["a", "b"])', "a,b"),
        ("merge({a = 1}, {b = 2})", {"a": 1, "b": 2}),
        ('[for s in ["a", "b"] : upper(s)]', ["A", "B"]),
        ("{for k, v in {a = 1} : v => k}", {"1": "a"}),
        ('true ? "y" : "n"', "y"),
        ('lookup({a = "b"}, "c", "d")', "d"),
        ('try(jsondecode("{"), "fallback")', "fallback"),
        ('trimprefix("arn:aws:iam::1:root", "arn:")', "aws:iam::1:root"),
        ('trimsuffix("role/app-x", "-x")', "role/app"),
        ('startswith("arn:aws", "arn:")', True),
        ('endswith("a.json", ".json")', True),
        ('one(["a"])', "a"),
        ("one([])", None),
        ('coalescelist([], ["b"])', ["b"]),
        ('setunion(["a"], ["b", "a"])', ["a", "b"]),
        ('zipmap(["a", "b"], [1, 2])', {"a": 1, "b": 2}),
        ('regex("^arn:aws:iam::(\\d+):", "arn:aws:iam::111122223333:root")', ["111122223333"]),
        ('replace("a-b-c", "/-/", "_")', "a_b_c"),
        ('element(["a", "b"], 3)', "b"),
        (
            'formatlist("arn:aws:iam::%s:root", ["1", "2"])',
            ["arn:aws:iam::1:root", "arn:aws:iam::2:root"],
        ),
        ('[for r in [{a = "x"}, {a = "y"}] : r.a]', ["x", "y"]),
        ("tomap({a = 1})", {"a": 1}),
        ("keys({b = 1, a = 2})", ["a", "b"]),
        ('"\\u0041\\n"', "A\n"),
        ("data.aws_caller_identity.c.account_id", "123456789012"),
        ('jsondecode("{\\"a\\": [1]}").a[0]', 1),
        ('concat(["a"], ["b"])[1]', "b"),
    ],
)
def test_expressions(expr: str, value: Any) -> None:
    assert _eval(expr) == value


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ('regex("a", "b")', "does not match"),
        ("local.x", "refers to itself"),
    ],
)
def test_unknowns(expr: str, reason: str) -> None:
    with pytest.raises(Unresolved, match=reason):
        _eval(expr)


@pytest.mark.parametrize(
    ("expr", "name"),
    [
        ("var.nope", "`var.nope`"),
        ("aws_iam_role.r.arn", "`aws_iam_role.r.arn`"),
        ("each.value", "`each.value` (its instances are not known)"),
        ("data.aws_ssm_parameter.p.value", "`data.aws_ssm_parameter.p.value`"),
        (
            "data.aws_organizations_organization.o.roots[0].id",
            "`data.aws_organizations_organization.o.roots.id`",
        ),
        ('sha256("x")', "`sha256(…)`"),
        ("length(var.nope)", "`length(var.nope)`"),
        ('try(var.nope, "fallback")', "`var.nope`"),
    ],
)
def test_symbolic(expr: str, name: str) -> None:
    """Values known only at deployment are symbolic (`Unknown`), not errors."""
    value = _eval(expr)
    assert isinstance(value, Unknown)
    assert value.name == name


def test_unknown_inside_text_and_lists() -> None:
    value = _eval('concat(["arn:aws:iam::${var.acct}:root"], var.more)')
    assert value == ["arn:aws:iam::\u27e6`var.acct`\u27e7:root", Unknown("`var.more`")]
    assert _eval('[for a in var.accts : "arn:aws:iam::${a}:root"]') == [
        "arn:aws:iam::\u27e6`var.accts.*`\u27e7:root"
    ]


def test_unknown_condition_is_a_choice() -> None:
    module = Module(Path(), ".")
    from kmsguard.iac.terraform.hcl import parse_body, trees

    text = 'locals {\n  x = var.env == "prod" ? "a" : "b"\n}\n'
    _, blocks = parse_body(trees(parse_hcl(text))[0], Path("m.tf"), "m.tf")
    for b in blocks:
        module.add(b)
    ev = Evaluator(module, "123456789012", {})
    assert ev._local("x", 0) == "a"
    assert len(ev.used) == 1
    key = ev.used[0]
    assert Evaluator(module, "123456789012", {key: False})._local("x", 0) == "b"


OPTIONAL = """
variable "statements" {
  type = list(object({
    sid     = optional(string)
    effect  = optional(string, "Allow")
    actions = optional(list(string), ["kms:Decrypt"])
    account = string
  }))
  default = [{ account = 111122223333 }]
}
"""


def test_optional_attributes_take_their_defaults() -> None:
    value = _eval("var.statements[0]", OPTIONAL)
    assert value == {
        "sid": None,
        "effect": "Allow",
        "actions": ["kms:Decrypt"],
        "account": "111122223333",  # a number given for a string is its text
    }


def test_heredoc_interpolation_and_trim() -> None:
    value = _eval('<<-EOT\n    {"a": "${var.v}"}\n    EOT', 'variable "v" {\n  default = "z"\n}')
    assert value == '{"a": "z"}\n'


def test_resource_arn_of_own_role() -> None:
    text = 'resource "aws_iam_role" "r" {\n  name = "app"\n}\n'
    assert _eval("aws_iam_role.r.arn", text) == "arn:aws:iam::123456789012:role/app"


def test_scan_module_parse_error_is_item(tmp_path: Path) -> None:
    items, _ = scan_module(
        tmp_path,
        str(tmp_path),
        [TfFile(tmp_path / "a.tf", "a.tf", 'resource "aws_kms_key" {')],
        account="123456789012",
    )
    (item,) = items
    assert item.error is not None
    assert "malformed HCL" in item.error


def test_sibling_files_are_parsed_only_when_referenced(tmp_path: Path) -> None:
    key = TfFile(
        tmp_path / "kms.tf",
        "kms.tf",
        'resource "aws_kms_key" "k" {\n  policy = jsonencode({ Statement = var.statements })\n}\n',
    )
    variables = TfFile(
        tmp_path / "variables.tf",
        "variables.tf",
        'variable "statements" {\n  default = []\n}\n',
    )
    broken = TfFile(tmp_path / "other.tf", "other.tf", "resource {")
    items, _ = scan_module(
        tmp_path, str(tmp_path), [key, variables, broken], account="123456789012"
    )
    (item,) = items  # other.tf declares nothing the policy uses: never parsed
    (variant,) = item.variants
    assert variant.policy == '{"Statement":[]}'


def test_template_directives() -> None:
    text = (
        'variable "accounts" {\n  default = ["111122223333", "444455556666"]\n}\n'
        'variable "open" {\n  default = false\n}\n'
    )
    heredoc = (
        "<<-EOT\n"
        "    [%{ for i, a in var.accounts ~}\n"
        '    "arn:aws:iam::${a}:root"%{ if i < length(var.accounts) - 1 },%{ endif }\n'
        "    %{~ endfor ~}\n"
        '    %{ if var.open }, "*"%{ else }%{ endif }]\n'
        "    EOT"
    )
    value = _eval(heredoc, text)
    import json

    assert json.loads(value) == ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]


def test_unclosed_directive_is_unresolved() -> None:
    with pytest.raises(Unresolved, match="endif"):
        _eval("<<EOT\n%{ if true }x\nEOT", "")


def test_quoted_string_directives(tmp_path: Path) -> None:
    text = (
        'variable "ids" {\n  default = ["1", "2"]\n}\n'
        'resource "aws_kms_key" "k" {\n'
        '  description = "ids:%{ for i in var.ids }[${i}]%{ endfor }\\"%{ if true }y%{ endif }"\n'
        "}\n"
    )
    module = Module(tmp_path, str(tmp_path))
    module.load(TfFile(tmp_path / "a.tf", "a.tf", text))
    ev = Evaluator(module, "123456789012", {})
    ev.files.append("a.tf")
    block = module.resources[("aws_kms_key", "k")]
    assert ev.eval(block.attrs["description"]) == 'ids:[1][2]"y'
