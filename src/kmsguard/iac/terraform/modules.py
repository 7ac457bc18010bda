"""Terraform modules as kmsguard reads them: the `.tf` files of one folder, its blocks by
kind, the library of modules in the scan and the `module` blocks that call a module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Token, Tree

from kmsguard.iac.items import (
    IacItem,
)
from kmsguard.iac.terraform.hcl import (
    Block,
    HclParseError,
    parse_body,
    parse_hcl,
    trees,
)
from kmsguard.model import Origin

POLICY_RESOURCES = (
    "aws_kms_key",
    "aws_kms_key_policy",
    "aws_kms_replica_key",
    "aws_kms_external_key",
    "aws_kms_replica_external_key",
)
GRANT_RESOURCE = "aws_kms_grant"
MARKER = "aws_kms_"
PLACEHOLDER_REGION = "us-east-1"
#: Stands for the own organization (`data.aws_organizations_organization.x.id`); the IaC
#: scan adds it to the zone of trust.
SELF_ORG = "o-0000000000"
_MAX_DEPTH = 64
#: `for_each` / `count` instances judged one by one; more are judged symbolically
MAX_INSTANCES = 256
_MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TfFile:
    path: Path
    display: str
    text: str


@dataclass(slots=True)
class Module:
    folder: Path
    display_folder: str
    variables: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, tuple[Tree[Token], Block]] = field(default_factory=dict)
    data: dict[tuple[str, str], Block] = field(default_factory=dict)
    resources: dict[tuple[str, str], Block] = field(default_factory=dict)
    resource_order: list[Block] = field(default_factory=list)
    #: files not parsed yet: parsed when a lookup misses and their text names the symbol
    pending: list[TfFile] = field(default_factory=list)
    errors: list[IacItem] = field(default_factory=list)
    calls: dict[str, Block] = field(default_factory=dict)
    #: values of `terraform.tfvars` / `*.auto.tfvars` (expression or JSON value, file)
    tfvars: dict[str, tuple[Tree[Token] | None, Any, str]] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # loaded files, by display path
    library: ModuleLibrary | None = None  # the other scanned modules, for module outputs

    def load(self, f: TfFile) -> None:
        try:
            tree = parse_hcl(f.text)
        except HclParseError as exc:
            self.errors.append(IacItem(origin=Origin(f.display, exc.line), error=exc.message))
            return
        self.texts[f.display] = f.text
        _, blocks = parse_body(trees(tree)[0], f.path, f.display)
        for b in blocks:
            self.add(b)

    def load_matching(self, hint: str) -> None:
        """Parse the pending files that mention `hint` (a lookup missed): files of the
        module that declare nothing a policy refers to are never parsed."""
        matching = [f for f in self.pending if hint in f.text]
        if not matching:
            return
        self.pending = [f for f in self.pending if hint not in f.text]
        for f in matching:
            self.load(f)

    def variable(self, name: str) -> Block | None:
        if name not in self.variables:
            self.load_matching(name)
        return self.variables.get(name)

    def local(self, name: str) -> tuple[Tree[Token], Block] | None:
        if name not in self.locals:
            self.load_matching(name)
        return self.locals.get(name)

    def data_block(self, dtype: str, name: str) -> Block | None:
        if (dtype, name) not in self.data:
            self.load_matching(name)
        return self.data.get((dtype, name))

    def resource(self, rtype: str, name: str) -> Block | None:
        if (rtype, name) not in self.resources:
            self.load_matching(name)
        return self.resources.get((rtype, name))

    def call(self, name: str) -> Block | None:
        if name not in self.calls:
            self.load_matching(name)
        return self.calls.get(name)

    def output(self, name: str) -> Block | None:
        if name not in self.outputs:
            self.load_matching(name)
        return self.outputs.get(name)

    def add(self, block: Block) -> None:
        match block.type:
            case "variable" if block.labels:
                self.variables[block.labels[0]] = block
            case "locals":
                for k, v in block.attrs.items():
                    self.locals[k] = (v, block)
            case "data" if len(block.labels) == 2:
                self.data[(block.labels[0], block.labels[1])] = block
            case "resource" if len(block.labels) == 2:
                self.resources[(block.labels[0], block.labels[1])] = block
                self.resource_order.append(block)
            case "module" if block.labels:
                self.calls[block.labels[0]] = block
            case "output" if block.labels:
                self.outputs[block.labels[0]] = block
            case _:
                pass


@dataclass(slots=True)
class ModuleLibrary:
    """The scanned modules by resolved folder: a module's outputs are read from here,
    each module parsed lazily and at most once."""

    files: dict[Path, tuple[Path, list[TfFile]]]
    cache: dict[Path, Module] = field(default_factory=dict)

    def get(self, folder: Path) -> Module | None:
        if folder in self.cache:
            return self.cache[folder]
        entry = self.files.get(folder)
        if entry is None:
            return None
        module = Module(entry[0], str(entry[0]), pending=list(entry[1]), library=self)
        self.cache[folder] = module
        return module


@dataclass(frozen=True, slots=True)
class ModuleCall:
    """A `module` block of another folder whose `source` is this module's folder: its
    arguments are this module's variables."""

    parent: Module
    block: Block
    instance: str = ""  # `[key]` of a `for_each` / `count` module block
    scope: dict[str, Any] | None = None  # its `each` / `count` values

    @property
    def label(self) -> str:
        name = f"module.{self.block.labels[0]}{self.instance}"
        return f"{name} ({self.block.display}:{self.block.line})"
