"""Terraform's built-in functions (the list of the Terraform 1.9 language reference): each
is either evaluated, or symbolic (its value is known only at deployment, never an error).
A name Terraform adds later is symbolic too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmsguard.iac.terraform import Evaluator, Module
from kmsguard.iac.terraform.functions import (
    FUNCTIONS,
    SPECIAL_FUNCTIONS,
    SYMBOLIC_FUNCTIONS,
)
from kmsguard.iac.terraform.hcl import parse_body, parse_hcl, trees
from kmsguard.iac.unknowns import Unknown

TERRAFORM_FUNCTIONS = """
abs abspath alltrue anytrue base64decode base64encode base64gzip base64sha256 base64sha512
basename bcrypt can ceil chomp chunklist cidrhost cidrnetmask cidrsubnet cidrsubnets
coalesce coalescelist compact concat contains csvdecode dirname distinct element endswith
ephemeralasnull file filebase64 filebase64sha256 filebase64sha512 fileexists filemd5
fileset filesha1 filesha256 filesha512 flatten floor format formatdate formatlist indent
index issensitive join jsondecode jsonencode keys length log lookup lower matchkeys max
md5 merge min nonsensitive one parseint pathexpand plantimestamp pow range regex
regexall replace reverse rsadecrypt sensitive setintersection setproduct setsubtract
setunion sha1 sha256 sha512 signum slice sort split startswith strcontains strrev substr
sum templatefile templatestring textdecodebase64 textencodebase64 timeadd timecmp
timestamp title tobool tolist tomap tonumber toset tostring transpose trim trimprefix
trimspace trimsuffix try type upper urldecode urlencode uuid uuidv5 values yamldecode
yamlencode zipmap
""".split()  # noqa: SIM905 - the reference page lists them like this


def _eval(expr: str) -> Any:
    module = Module(Path(), ".")
    _, blocks = parse_body(trees(parse_hcl(f"locals {{\n  x = {expr}\n}}\n"))[0], Path("m"), "m")
    for b in blocks:
        module.add(b)
    return Evaluator(module, "123456789012", {})._local("x", 0)


def test_every_function_is_evaluated_or_symbolic() -> None:
    known = set(FUNCTIONS) | SYMBOLIC_FUNCTIONS | SPECIAL_FUNCTIONS
    assert [f for f in TERRAFORM_FUNCTIONS if f not in known] == []
    assert not set(FUNCTIONS) & SYMBOLIC_FUNCTIONS


@pytest.mark.parametrize("name", sorted(SYMBOLIC_FUNCTIONS))
def test_symbolic_functions_are_unknown(name: str) -> None:
    value = _eval(f'{name}("a")')
    assert isinstance(value, Unknown)
    assert value.name == f"`{name}(…)`"


def test_a_function_terraform_adds_later_is_symbolic() -> None:
    assert _eval('futurefn("x")') == Unknown("`futurefn(…)`")


def test_try_and_can() -> None:
    assert _eval('try(jsondecode("nope"), {a = 1}).a') == 1
    assert _eval('can(jsondecode("{}"))') is True
    assert _eval('can(jsondecode("nope"))') is False
    assert isinstance(_eval("can(var.unset)"), Unknown)
