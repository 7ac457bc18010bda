"""Terraform HCL: find KMS key policies and grants and evaluate their expressions.

Each folder is one module. Its `.tf` files are parsed with python-hcl2's HCL2 grammar
(raw Lark tree, which keeps line numbers) and expressions are evaluated here: literals,
templates, heredocs, `jsonencode`, `file`, `templatefile`, locals, variable defaults,
`data.aws_iam_policy_document`, `data.aws_caller_identity` (the own account) and common
functions. Whatever cannot be known before `terraform plan` raises `Unresolved`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Token, Tree

from kmsguard import safeio, strictjson
from kmsguard.model import SELF_ACCOUNT as SELF
from kmsguard.model import Origin

from .discover import read_text
from .hcl import (
    Block,
    HclParseError,
    Node,
    heredoc_body,
    name_of,
    parse_body,
    parse_expression,
    parse_hcl,
    template_nodes,
    trees,
    unescape,
)
from .hcl_functions import (
    FUNCTIONS,
    as_list,
    binary_op,
    merge_statements,
    statements_of,
    to_str,
)
from .iac_items import (
    MAX_BRANCH_CHOICES,
    GrantSpec,
    IacItem,
    Unresolved,
    Variant,
    default_key_policy,
)
from .unknowns import MARKER as UNKNOWN

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
#: `for_each` / `count` instances and calling modules judged per resource, at most
MAX_INSTANCES = 8
_MAX_FILE_BYTES = 5 * 1024 * 1024


# -- the module and its evaluator ---------------------------------------------------


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


def _number(literal: str) -> Any:
    """A number literal; NaN, overflow and huge integers are this value's error, not the
    run's (Python's int() of 4300+ digits raises, float() gives inf)."""
    try:
        return strictjson.loads(literal)
    except strictjson.StrictJsonError as exc:
        raise Unresolved(f"number `{literal[:20]}`: {exc.msg}") from None
    except ValueError:  # HCL spellings JSON lacks (a leading zero)
        if len(literal) > strictjson.MAX_NUMBER_DIGITS:
            raise Unresolved(f"number `{literal[:20]}` has too many digits") from None
        return float(literal) if any(c in literal for c in ".eE") else int(literal)


class Evaluator:
    """Evaluates expressions of one module. `choices` picks the branch of each conditional
    whose condition is unknown (by source position; true by default); `used` records them."""

    def __init__(
        self,
        module: Module,
        account: str,
        choices: dict[str, bool],
        *,
        max_file_bytes: int = _MAX_FILE_BYTES,
        caller: ModuleCall | None = None,
    ) -> None:
        self.caller = caller
        self.module = module
        self.account = account
        self.choices = choices
        self.used: list[str] = []
        self.referenced: set[Path] = set()
        self.notes: set[str] = set()
        self.max_file_bytes = max_file_bytes
        self._stack: list[str] = []
        self.unknowns: list[str] = []
        self.files: list[str] = []
        self._scopes: list[dict[str, Any]] = []

    # -- expressions -----------------------------------------------------------------
    def eval(self, node: Node, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise Unresolved("expression nested too deeply")
        if isinstance(node, Token):
            return self._token(node)
        handler = _HANDLERS.get(str(node.data))
        if handler is None:
            raise Unresolved(f"`{node.data}` expressions are not evaluated")
        return handler(self, node, depth + 1)

    def _token(self, token: Token) -> Any:
        if token.type in ("HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM"):
            return self.template(
                heredoc_body(str(token), trim=token.type.endswith("TRIM")), depth=1
            )
        raise Unresolved(f"unexpected token `{token}`")

    def template(self, text: str, depth: int) -> Any:
        """A heredoc or `templatefile` text: interpolations and `%{ if }` / `%{ for }`
        directives (with `~` strip markers)."""
        nodes = template_nodes(text)
        if len(nodes) == 1 and nodes[0][0] == "expr":
            return self.eval(parse_expression(nodes[0][1]), depth + 1)
        out: list[str] = []
        self._render(nodes, out, depth + 1)
        return "".join(out)

    def _render(
        self, nodes: list[Any], out: list[str], depth: int, *, quoted: bool = False
    ) -> None:
        if depth > _MAX_DEPTH:
            raise Unresolved("template nested too deeply")
        for node in nodes:
            kind = node[0]
            if kind == "lit":
                out.append(unescape(node[1]) if quoted else node[1])
            elif kind == "expr":
                out.append(to_str(self._embedded(parse_expression(node[1]), depth)))
            elif kind == "if":
                cond = self.eval(parse_expression(node[1]), depth)
                if not isinstance(cond, bool):
                    raise Unresolved("a template `%{ if }` condition is not a boolean")
                self._render(node[2] if cond else node[3], out, depth + 1, quoted=quoted)
            else:  # for
                names, coll_src, body = node[1], node[2], node[3]
                coll = self.eval(parse_expression(coll_src), depth)
                if isinstance(coll, dict):
                    pairs = list(coll.items())
                elif isinstance(coll, list):
                    pairs = list(enumerate(coll))
                else:
                    raise Unresolved("a template `%{ for }` over a value that is not a collection")
                for k, v in pairs:
                    scope = {names[0]: v} if len(names) == 1 else {names[0]: k, names[1]: v}
                    self._scopes.append(scope)
                    try:
                        self._render(body, out, depth + 1, quoted=quoted)
                    finally:
                        self._scopes.pop()

    def _expr_term(self, node: Tree[Token], depth: int) -> Any:
        inner = trees(node)
        if not inner:
            token = next(c for c in node.children if isinstance(c, Token))
            return self._token(token)
        return self.eval(inner[0], depth)

    def _embedded(self, node: Node, depth: int) -> Any:
        """An interpolation inside text: an unknown value becomes `MARKER` (settled later,
        see `unknowns`), so a name from an input does not hide a known account."""
        try:
            return self.eval(node, depth)
        except Unresolved as exc:
            if exc.reason not in self.unknowns:
                self.unknowns.append(exc.reason)
            return UNKNOWN

    def _string(self, node: Tree[Token], depth: int) -> Any:
        embedded = sum(1 for p in node.children if isinstance(p, Tree)) > 1
        parts: list[Any] = []
        for part in node.children:
            if not isinstance(part, Tree):
                continue
            child = part.children[0]
            if isinstance(child, Token):
                if child.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                    parts.append(str(child)[1:])
                else:
                    parts.append(unescape(str(child)))
            elif child.data == "interpolation":
                if embedded:
                    parts.append(self._embedded(trees(child)[0], depth))
                else:
                    parts.append(self.eval(trees(child)[0], depth))
            else:
                return self._quoted_template(node, depth)
        if len(parts) == 1 and not isinstance(parts[0], str):
            return parts[0]  # "${x}" keeps the type of x
        return "".join(to_str(p) for p in parts)

    def _quoted_template(self, node: Tree[Token], depth: int) -> Any:
        """A quoted string with `%{ if }` / `%{ for }` directives: rendered from its source
        text, as heredocs are (the grammar gives the directives as flat pieces)."""
        text = self.module.texts.get(self.files[-1]) if self.files else None
        start, end = getattr(node.meta, "start_pos", None), getattr(node.meta, "end_pos", None)
        if text is None or start is None or end is None or text[start:end][:1] != '"':
            raise Unresolved("template directives in this string are not evaluated")
        if text[end - 1 : end] != '"':
            raise Unresolved("template directives in this string are not evaluated")
        out: list[str] = []
        self._render(template_nodes(text[start + 1 : end - 1]), out, depth + 1, quoted=True)
        return "".join(out)

    def _literal(self, node: Tree[Token], depth: int) -> Any:
        text = str(node.children[0])
        return {"true": True, "false": False, "null": None}[text]

    def _int(self, node: Tree[Token], depth: int) -> Any:
        return _number(str(node.children[0]))

    def _float(self, node: Tree[Token], depth: int) -> Any:
        return _number(str(node.children[0]))

    def _tuple(self, node: Tree[Token], depth: int) -> Any:
        return [self.eval(c, depth) for c in trees(node)]

    def _object(self, node: Tree[Token], depth: int) -> Any:
        out: dict[str, Any] = {}
        for elem in trees(node):
            key_node, value_node = trees(elem)
            out[self._object_key(key_node, depth)] = self.eval(value_node, depth)
        return out

    def _object_key(self, key_node: Tree[Token], depth: int) -> str:
        inner = trees(key_node)
        if not inner:
            return str(key_node.children[0])  # a keyword used as a key
        expr = inner[0]
        if expr.data == "keyword":
            return str(expr.children[0])
        if expr.data == "expr_term":
            sub = trees(expr)
            if len(sub) == 1 and sub[0].data == "identifier" and len(expr.children) == 1:
                return str(sub[0].children[0])  # bare name: a literal key
        return to_str(self.eval(expr, depth))

    def _heredoc(self, node: Tree[Token], depth: int) -> Any:
        return self._token(next(c for c in node.children if isinstance(c, Token)))

    def _conditional(self, node: Tree[Token], depth: int) -> Any:
        cond_node, yes, no = trees(node)
        try:
            cond = self.eval(cond_node, depth)
        except Unresolved:
            key = f"{self._where(node)}"
            if key not in self.used:
                self.used.append(key)
            return self.eval(yes if self.choices.get(key, True) else no, depth)
        if not isinstance(cond, bool):
            raise Unresolved("a conditional's condition is not a boolean")
        return self.eval(yes if cond else no, depth)

    def _where(self, node: Tree[Token]) -> str:
        file = self.files[-1] if self.files else self.module.display_folder
        return f"{file}:{node.meta.line}:{node.meta.column}"

    def _binary(self, node: Tree[Token], depth: int) -> Any:
        left_node, term = trees(node)[:2]
        op_node, right_node = trees(term)
        op = str(op_node.children[0])
        left = self.eval(left_node, depth)
        if op == "&&" and left is False:
            return False
        if op == "||" and left is True:
            return True
        right = self.eval(right_node, depth)
        return binary_op(op, left, right)

    def _unary(self, node: Tree[Token], depth: int) -> Any:
        op = str(node.children[0])
        value = self.eval(node.children[1], depth)
        if op == "!" and isinstance(value, bool):
            return not value
        if op == "-" and isinstance(value, int | float) and not isinstance(value, bool):
            return -value
        raise Unresolved(f"cannot apply `{op}` to this value")

    # -- references ----------------------------------------------------------------
    def _traversal(self, node: Tree[Token], depth: int) -> Any:
        steps: list[tuple[str, Any]] = []
        cur: Tree[Token] = node
        while True:
            if cur.data == "expr_term":
                inner = trees(cur)
                if len(inner) == 1 and len(cur.children) == 1:
                    cur = inner[0]
                    continue
                break
            if cur.data == "get_attr_expr_term":
                base, attr = trees(cur)
                steps.append(("attr", name_of(trees(attr)[0])))
                cur = base
                continue
            if cur.data == "index_expr_term":
                base, index = trees(cur)
                steps.append(("index", index))
                cur = base
                continue
            break
        steps.reverse()
        if cur.data == "identifier":
            return self._reference(str(cur.children[0]), steps, depth)
        value = self.eval(cur, depth)
        return self._apply(value, steps, depth)

    def _index_value(self, index: Tree[Token], depth: int) -> Any:
        if index.data == "short_index":
            return int(str(index.children[-1]))
        return self.eval(trees(index)[0], depth)

    def _apply(self, value: Any, steps: list[tuple[str, Any]], depth: int) -> Any:
        for kind, arg in steps:
            key = arg if kind == "attr" else self._index_value(arg, depth)
            if isinstance(value, dict) and isinstance(key, str) and key in value:
                value = value[key]
                continue
            if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                value = value[key]
                continue
            raise Unresolved(f"cannot index a value with `{key}`")
        return value

    def _reference(self, root: str, steps: list[tuple[str, Any]], depth: int) -> Any:
        for scope in reversed(self._scopes):
            if root in scope:
                return self._apply(scope[root], steps, depth)
        attrs = [a for k, a in steps if k == "attr"]
        match root:
            case "var" if steps and steps[0][0] == "attr":
                return self._apply(self._variable(steps[0][1], depth), steps[1:], depth)
            case "local" if steps and steps[0][0] == "attr":
                return self._apply(self._local(steps[0][1], depth), steps[1:], depth)
            case "path" if attrs:
                if attrs[0] in ("module", "root", "cwd"):
                    return "."  # file() paths are read relative to the module folder
            case "terraform" if attrs[:1] == ["workspace"]:
                return "default"
            case "data" if len(attrs) >= 2:
                instance = self._instance_key(steps, depth)
                return self._data(attrs[0], attrs[1], _after_name(steps, 2), depth, instance)
            case "each" | "count" | "self":
                raise Unresolved(f"`{root}.` values are known only during plan")
            case "module" if len(attrs) >= 2:
                return self._module_output(attrs[0], attrs[1], _after_name(steps, 2), depth)
            case _ if root.startswith(("aws_", "awscc_")) and attrs:
                return self._resource_attr(root, attrs[0], _after_name(steps, 1), depth)
        raise Unresolved(f"reference `{_render_ref(root, steps)}` is not known before plan")

    def _variable(self, name: str, depth: int) -> Any:
        block = self.module.variable(name)
        if block is None:
            raise Unresolved(f"variable `{name}` is not declared in the module")
        if self.caller is not None and name in self.caller.block.attrs:
            # the calling module's argument, evaluated in the caller's module
            parent = Evaluator(
                self.caller.parent,
                self.account,
                self.choices,
                max_file_bytes=self.max_file_bytes,
            )
            parent.files.append(self.caller.block.display)
            if self.caller.scope is not None:
                parent._scopes.append(self.caller.scope)
            try:
                return parent.eval(self.caller.block.attrs[name], depth)
            finally:
                self.used.extend(k for k in parent.used if k not in self.used)
                self.unknowns.extend(r for r in parent.unknowns if r not in self.unknowns)
                self.referenced |= parent.referenced
        if name in self.module.tfvars:
            expr, constant, source = self.module.tfvars[name]
            self.notes.add(f"`var.{name}` from {source}")
            if expr is None:
                return constant
            return self._in_file(block, lambda: self.eval(expr, depth), f"var.{name}")
        if "default" not in block.attrs:
            raise Unresolved(f"variable `{name}` has no default")
        return self._in_file(block, lambda: self.eval(block.attrs["default"], depth), f"var.{name}")

    def _module_output(
        self, name: str, output: str, rest: list[tuple[str, Any]], depth: int
    ) -> Any:
        """`module.NAME.OUTPUT` of a local module that was scanned too: the output's value,
        evaluated in that module with the arguments this call passes."""
        call = self.module.call(name)
        if call is None:
            raise Unresolved(f"module `{name}` is not called in this module")
        source = self.eval(call.attrs["source"], depth) if "source" in call.attrs else None
        if not isinstance(source, str) or not source.startswith(("./", "../")):
            raise Unresolved(f"output of module `{name}` (source `{source}`) is not evaluated")
        library = self.module.library
        child = library.get((self.module.folder / source).resolve()) if library else None
        if child is None:
            raise Unresolved(f"module `{name}` (source `{source}`) is not among the scanned paths")
        block = child.output(output)
        if block is None or "value" not in block.attrs:
            raise Unresolved(f"module `{name}` has no output `{output}`")
        label = f"module.{name}.{output}"
        if label in self._stack or len(self._stack) > 16:
            raise Unresolved(f"`{label}` refers to itself")
        ev = Evaluator(
            child,
            self.account,
            self.choices,
            max_file_bytes=self.max_file_bytes,
            caller=ModuleCall(self.module, call),
        )
        ev._stack = [*self._stack, label]
        ev.files.append(block.display)
        try:
            value = ev.eval(block.attrs["value"], depth)
        finally:
            self.used.extend(k for k in ev.used if k not in self.used)
            self.unknowns.extend(r for r in ev.unknowns if r not in self.unknowns)
            self.notes |= ev.notes
            self.referenced |= ev.referenced
        return self._apply(value, rest, depth)

    def _local(self, name: str, depth: int) -> Any:
        entry = self.module.local(name)
        if entry is None:
            raise Unresolved(f"local `{name}` is not defined in the module")
        expr, block = entry
        return self._in_file(block, lambda: self.eval(expr, depth), f"local.{name}")

    def _in_file(self, block: Block, fn: Callable[[], Any], label: str) -> Any:
        if label in self._stack:
            raise Unresolved(f"`{label}` refers to itself")
        self._stack.append(label)
        self.files.append(block.display)
        saved = self._scopes
        self._scopes = []
        try:
            return fn()
        finally:
            self._scopes = saved
            self._stack.pop()
            self.files.pop()

    def _instance_key(self, steps: list[tuple[str, Any]], depth: int) -> Any:
        """The `[key]` right after `data.TYPE.NAME`, when it can be known."""
        attr_steps = [i for i, (k, _) in enumerate(steps) if k == "attr"]
        if len(attr_steps) < 2:
            return None
        after = attr_steps[1] + 1
        if after >= len(steps) or steps[after][0] != "index":
            return None
        try:
            return self._index_value(steps[after][1], depth)
        except Unresolved:
            return None

    def _instance_scope(self, block: Block, key: Any, depth: int) -> dict[str, Any] | None:
        """`each` / `count` of one instance of a data source with `for_each` / `count`."""
        if key is None:
            return None
        if "for_each" in block.attrs:
            coll = self.eval(block.attrs["for_each"], depth)
            if isinstance(coll, dict) and key in coll:
                return {"each": {"key": key, "value": coll[key]}}
            if isinstance(coll, list) and key in coll:
                return {"each": {"key": key, "value": key}}
            raise Unresolved(f"instance `{key}` of a `for_each` data source is not known")
        if "count" in block.attrs and isinstance(key, int):
            return {"count": {"index": key}}
        return None

    def _scoped_document(self, block: Block, key: Any, depth: int) -> dict[str, Any]:
        scope = self._instance_scope(block, key, depth)
        if scope is not None:
            self._scopes.append(scope)
        try:
            return self.policy_document(block, depth)
        finally:
            if scope is not None:
                self._scopes.pop()

    def _data(
        self, dtype: str, name: str, rest: list[tuple[str, Any]], depth: int, instance: Any = None
    ) -> Any:
        attrs = [a for k, a in rest if k == "attr"]
        attr = attrs[0] if attrs else None
        after = _after_name(rest, 1) if attr else []
        match dtype, attr:
            case "aws_caller_identity", ("account_id" | "id"):
                return self.account
            case "aws_organizations_organization", "id":
                return SELF_ORG
            case "aws_caller_identity", "arn":
                return f"arn:aws:iam::{self.account}:root"
            case "aws_partition", "partition":
                return "aws"
            case "aws_partition", "dns_suffix":
                return "amazonaws.com"
            case "aws_region", ("name" | "id" | "region"):
                self.notes.add(f"`data.aws_region` taken as {PLACEHOLDER_REGION}")
                return PLACEHOLDER_REGION
            case "aws_iam_policy_document", ("json" | "minified_json"):
                doc_block = self.module.data_block(dtype, name)
                if doc_block is None:
                    raise Unresolved(f"`data.{dtype}.{name}` is not defined in the module")
                doc = self._in_file(
                    doc_block,
                    lambda: self._scoped_document(doc_block, instance, depth),
                    f"data.{dtype}.{name}",
                )
                return self._apply(json.dumps(doc, indent=2), after, depth)
            case "template_file", "rendered":
                tpl_block = self.module.data_block(dtype, name)
                if tpl_block is None or "template" not in tpl_block.attrs:
                    raise Unresolved(f"`data.{dtype}.{name}` is not defined in the module")
                return self._in_file(
                    tpl_block, lambda: self._template_file(tpl_block, depth), f"data.{dtype}.{name}"
                )
            case (("aws_iam_role" | "aws_iam_user"), "arn"):
                block = self.module.data_block(dtype, name)
                kind = dtype.removeprefix("aws_iam_")
                label = name
                if block is not None and "name" in block.attrs:
                    try:
                        label = to_str(self.eval(block.attrs["name"], depth))
                    except Unresolved:
                        label = name
                return f"arn:aws:iam::{self.account}:{kind}/{label}"
        raise Unresolved(f"`data.{dtype}.{name}.{attr}` is known only during plan")

    def _resource_attr(self, rtype: str, name: str, rest: list[tuple[str, Any]], depth: int) -> Any:
        block = self.module.resource(rtype, name)
        attrs = [a for k, a in rest if k == "attr"]
        attr = attrs[0] if attrs else None
        if block is None or attr is None:
            raise Unresolved(f"`{rtype}.{name}` is not a resource of the module")
        if rtype in ("aws_organizations_account",):
            raise Unresolved(f"`{rtype}.{name}` is created at apply time")
        if attr == "arn":
            return _resource_arn(rtype, name, block, self)
        if attr in block.attrs:
            try:
                return self._in_file(
                    block, lambda: self.eval(block.attrs[attr], depth), f"{rtype}.{name}.{attr}"
                )
            except Unresolved:
                pass
        # an id or name of a resource of the own configuration: not an account
        return f"{rtype}.{name}.{attr}"

    # -- functions -------------------------------------------------------------------
    def _call(self, node: Tree[Token], depth: int) -> Any:
        parts = trees(node)
        names = [str(p.children[0]) for p in parts if p.data == "identifier"]
        fname = names[-1]
        args_node = next((p for p in parts if p.data == "arguments"), None)
        arg_nodes = trees(args_node) if args_node is not None else []
        if args_node is not None and any(
            isinstance(c, Token) and c.type == "ELLIPSIS" for c in args_node.children
        ):
            raise Unresolved("argument expansion (`...`) is not evaluated")
        if fname == "try":
            last: Unresolved | None = None
            for a in arg_nodes:
                try:
                    return self.eval(a, depth)
                except Unresolved as exc:
                    last = exc
            raise last or Unresolved("`try()` without arguments")
        if fname == "can":
            try:
                self.eval(arg_nodes[0], depth)
            except Unresolved:
                raise Unresolved("`can()` of an unknown value") from None
            return True
        if fname == "templatefile":
            return self._templatefile(arg_nodes, depth)
        args = [self.eval(a, depth) for a in arg_nodes]
        if fname == "file":
            return self._file(args)
        fn = FUNCTIONS.get(fname)
        if fn is None:
            raise Unresolved(f"function `{fname}()` is not evaluated")
        try:
            return fn(*args)
        except Unresolved:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise Unresolved(f"`{fname}()` failed: {exc}") from None

    def _read(self, path_value: Any) -> tuple[Path, str]:
        if not isinstance(path_value, str):
            raise Unresolved("`file()` path is not a string")
        path = Path(path_value)
        if not path.is_absolute():
            path = self.module.folder / path
        if safeio.outside_scope(path):  # never read /etc/passwd into a report
            raise Unresolved(f"`{path_value}` is outside the scanned folders (see --allow-path)")
        try:
            size = path.stat().st_size
            if size > self.max_file_bytes:
                raise Unresolved(f"`{path_value}` is over the file size limit")
            text = read_text(path)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise Unresolved(f"cannot read `{path_value}`: {reason}") from None
        self.referenced.add(path.resolve())
        return path, text

    def _file(self, args: list[Any]) -> Any:
        if len(args) != 1:
            raise Unresolved("`file()` takes one argument")
        return self._read(args[0])[1]

    def _templatefile(self, arg_nodes: list[Tree[Token]], depth: int) -> Any:
        if len(arg_nodes) != 2:
            raise Unresolved("`templatefile()` takes two arguments")
        _, text = self._read(self.eval(arg_nodes[0], depth))
        variables = self.eval(arg_nodes[1], depth)
        if not isinstance(variables, dict):
            raise Unresolved("`templatefile()` variables are not an object")
        self._scopes.append(variables)
        try:
            return self.template(text, depth)
        finally:
            self._scopes.pop()

    def _template_file(self, block: Block, depth: int) -> Any:
        """The template provider's `data "template_file"`: `template` rendered with `vars`."""
        text = self.eval(block.attrs["template"], depth)
        variables = self.eval(block.attrs["vars"], depth) if "vars" in block.attrs else {}
        if not isinstance(text, str) or not isinstance(variables, dict):
            raise Unresolved("`template_file` needs a string template and an object of vars")
        self._scopes.append(variables)
        try:
            return self.template(text, depth)
        finally:
            self._scopes.pop()

    # -- for expressions -------------------------------------------------------------
    def _for_tuple(self, node: Tree[Token], depth: int) -> Any:
        parts = trees(node)
        intro, body = parts[0], parts[1]
        cond = parts[2] if len(parts) > 2 else None
        out: list[Any] = []
        for scope in self._for_scopes(intro, depth):
            self._scopes.append(scope)
            try:
                if cond is None or self._for_cond(cond, depth):
                    out.append(self.eval(body, depth))
            finally:
                self._scopes.pop()
        return out

    def _for_object(self, node: Tree[Token], depth: int) -> Any:
        parts = trees(node)
        intro, key_node, value_node = parts[0], parts[1], parts[2]
        if any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children):
            raise Unresolved("grouping `for` expressions (`...`) are not evaluated")
        cond = parts[3] if len(parts) > 3 else None
        out: dict[str, Any] = {}
        for scope in self._for_scopes(intro, depth):
            self._scopes.append(scope)
            try:
                if cond is None or self._for_cond(cond, depth):
                    out[to_str(self.eval(key_node, depth))] = self.eval(value_node, depth)
            finally:
                self._scopes.pop()
        return out

    def _for_cond(self, cond: Tree[Token], depth: int) -> bool:
        value = self.eval(trees(cond)[0], depth)
        if not isinstance(value, bool):
            raise Unresolved("a `for` condition is not a boolean")
        return value

    def _for_scopes(self, intro: Tree[Token], depth: int) -> list[dict[str, Any]]:
        parts = trees(intro)
        names = [str(p.children[0]) for p in parts if p.data == "identifier"]
        collection = self.eval(parts[-1], depth)
        pairs: list[tuple[Any, Any]]
        if isinstance(collection, dict):
            pairs = list(collection.items())
        elif isinstance(collection, list):
            pairs = list(enumerate(collection))
        else:
            raise Unresolved("a `for` expression over a value that is not a collection")
        if len(names) == 1:
            return [{names[0]: v} for _, v in pairs]
        return [{names[0]: k, names[1]: v} for k, v in pairs]

    # -- aws_iam_policy_document -----------------------------------------------------
    def policy_document(self, block: Block, depth: int) -> dict[str, Any]:
        a = block.attrs

        def opt(name: str) -> Any:
            return self.eval(a[name], depth) if name in a else None

        statements: list[dict[str, Any]] = []
        for src in as_list(opt("source_policy_documents")) + as_list(opt("source_json")):
            statements = merge_statements(statements, statements_of(src))
        own = [self._statement(b, depth) for b in self._expand_blocks(block, "statement", depth)]
        statements = merge_statements(statements, own)
        for ov in as_list(opt("override_policy_documents")) + as_list(opt("override_json")):
            statements = merge_statements(statements, statements_of(ov))
        doc: dict[str, Any] = {"Version": opt("version") or "2012-10-17"}
        if "policy_id" in a:
            doc["Id"] = opt("policy_id")
        doc["Statement"] = statements
        return doc

    def _expand_blocks(self, block: Block, kind: str, depth: int) -> Iterator[Block]:
        """Blocks of one kind, with `dynamic "kind"` blocks expanded over known values."""
        for b in block.blocks:
            if b.type == kind:
                yield b
            elif b.type == "dynamic" and b.labels[:1] == (kind,):
                yield from self._dynamic(b, kind, depth)

    def _dynamic(self, block: Block, kind: str, depth: int) -> Iterator[Block]:
        if "for_each" not in block.attrs:
            raise Unresolved(f'`dynamic "{kind}"` without `for_each`')
        collection = self.eval(block.attrs["for_each"], depth)
        iterator = kind
        if "iterator" in block.attrs:
            iterator = name_of(trees(block.attrs["iterator"])[0])
        content = next((b for b in block.blocks if b.type == "content"), None)
        if content is None:
            raise Unresolved(f'`dynamic "{kind}"` without `content`')
        if isinstance(collection, dict):
            pairs = list(collection.items())
        elif isinstance(collection, list):
            pairs = list(enumerate(collection))
        else:
            raise Unresolved(f'`dynamic "{kind}"` over a value that is not a collection')
        for k, v in pairs:
            yield _ScopedBlock.wrap(content, kind, {iterator: {"key": k, "value": v}})

    def _with_scope(self, block: Block, fn: Callable[[], Any]) -> Any:
        scope = block.scope if isinstance(block, _ScopedBlock) else None
        if scope is None:
            return fn()
        self._scopes.append(scope)
        try:
            return fn()
        finally:
            self._scopes.pop()

    def _statement(self, block: Block, depth: int) -> dict[str, Any]:
        return dict(self._with_scope(block, lambda: self._statement_inner(block, depth)))

    def _statement_inner(self, block: Block, depth: int) -> dict[str, Any]:
        a = block.attrs
        st: dict[str, Any] = {}
        if "sid" in a:
            sid = self.eval(a["sid"], depth)
            if sid:
                st["Sid"] = sid
        effect = self.eval(a["effect"], depth) if "effect" in a else None
        st["Effect"] = effect or "Allow"  # the provider's default, also for `null`
        for attr, key in (
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ):
            if attr in a:
                value = self.eval(a[attr], depth)
                if value is not None:
                    st[key] = as_list(value)
        for kind, key in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            blocks = list(self._expand_blocks(block, kind, depth))
            if blocks:
                st[key] = self._principals(blocks, depth)
        conditions = list(self._expand_blocks(block, "condition", depth))
        if conditions:
            cond: dict[str, dict[str, list[Any]]] = {}
            for c in conditions:
                test, variable, values = self._with_scope(c, _Fields(self, c, depth).condition)
                cond.setdefault(test, {}).setdefault(variable, []).extend(values)
            st["Condition"] = cond
        return st

    def _principals(self, blocks: list[Block], depth: int) -> Any:
        out: dict[str, list[Any]] = {}
        for b in blocks:
            ptype, ids = self._with_scope(b, _Fields(self, b, depth).principal)
            if ptype == "*":
                return "*"
            out.setdefault(ptype, []).extend(ids)
        return out


@dataclass(frozen=True, slots=True)
class _Fields:
    """Reads the fields of a `condition` or `principals` block."""

    ev: Evaluator
    block: Block
    depth: int

    def _get(self, name: str) -> Any:
        if name not in self.block.attrs:
            raise Unresolved(f"`{self.block.type}` block without `{name}`")
        return self.ev.eval(self.block.attrs[name], self.depth)

    def condition(self) -> tuple[str, str, list[Any]]:
        return (
            to_str(self._get("test")),
            to_str(self._get("variable")),
            [to_str(v) for v in as_list(self._get("values"))],
        )

    def principal(self) -> tuple[str, list[Any]]:
        # the provider's schema types these as strings: `[123456789012]` is an account id
        return to_str(self._get("type")), [to_str(v) for v in as_list(self._get("identifiers"))]


@dataclass(slots=True)
class _ScopedBlock(Block):
    scope: dict[str, Any] | None = None

    @staticmethod
    def wrap(block: Block, kind: str, scope: dict[str, Any]) -> _ScopedBlock:
        """A dynamic block's content, seen as a plain block of `kind` with its iterator."""
        blocks = [_ScopedBlock.wrap(b, b.type, scope) for b in block.blocks]
        return _ScopedBlock(
            type=kind,
            labels=block.labels if kind == block.type else (),  # nested `dynamic "x"` keep x
            attrs=block.attrs,
            blocks=list(blocks),
            file=block.file,
            display=block.display,
            line=block.line,
            end_line=block.end_line,
            scope=scope,
        )


_TRAVERSAL_NODES = frozenset({"get_attr_expr_term", "index_expr_term", "identifier"})
_HANDLERS: dict[str, Callable[[Evaluator, Tree[Token], int], Any]] = {
    "expr_term": lambda e, n, d: (
        e._traversal(n, d)
        if trees(n) and trees(n)[0].data in _TRAVERSAL_NODES
        else e._expr_term(n, d)
    ),
    "string": Evaluator._string,
    "literal_value": Evaluator._literal,
    "int_lit": Evaluator._int,
    "float_lit": Evaluator._float,
    "tuple": Evaluator._tuple,
    "object": Evaluator._object,
    "heredoc_template": Evaluator._heredoc,
    "heredoc_template_trim": Evaluator._heredoc,
    "conditional": Evaluator._conditional,
    "binary_op": Evaluator._binary,
    "unary_op": Evaluator._unary,
    "function_call": Evaluator._call,
    "identifier": lambda e, n, d: e._reference(str(n.children[0]), [], d),
    "get_attr_expr_term": Evaluator._traversal,
    "index_expr_term": Evaluator._traversal,
    "for_tuple_expr": Evaluator._for_tuple,
    "for_object_expr": Evaluator._for_object,
}


def _after_name(steps: list[tuple[str, Any]], n_attrs: int) -> list[tuple[str, Any]]:
    """The steps after the first `n_attrs` attribute steps, skipping `[count.index]`-style
    indexes that sit between them (every instance has the same shape)."""
    seen = 0
    for i, (kind, _) in enumerate(steps):
        if kind == "attr":
            seen += 1
            if seen == n_attrs:
                rest = steps[i + 1 :]
                while rest and rest[0][0] == "index":
                    rest = rest[1:]
                return rest
    return []


def _render_ref(root: str, steps: list[tuple[str, Any]]) -> str:
    return root + "".join(f".{a}" if k == "attr" else "[…]" for k, a in steps)


def _resource_arn(rtype: str, name: str, block: Block, ev: Evaluator) -> str:
    if rtype in ("aws_iam_role", "aws_iam_user", "aws_iam_group"):
        kind = rtype.removeprefix("aws_iam_")
        label = name
        if "name" in block.attrs:
            try:
                label = to_str(ev.eval(block.attrs["name"]))
            except Unresolved:
                label = name
        return f"arn:aws:iam::{ev.account}:{kind}/{label}"
    service = rtype.removeprefix("aws_").split("_")[0]
    return f"arn:aws:{service}:{PLACEHOLDER_REGION}:{ev.account}:{rtype}/{name}"


# -- module scanning ----------------------------------------------------------------


def scan_module(
    folder: Path,
    display_folder: str,
    files: list[TfFile],
    *,
    account: str,
    max_file_bytes: int = _MAX_FILE_BYTES,
    callers: Sequence[ModuleCall] = (),
    library: ModuleLibrary | None = None,
) -> tuple[list[IacItem], set[Path]]:
    """Every KMS policy and grant of one module (one folder of `.tf` files). With
    `callers`, variables take the values the calling `module` blocks pass."""
    module = Module(folder, display_folder, library=library)
    load_tfvars(module, max_file_bytes)
    items: list[IacItem] = []
    for f in files:
        if MARKER in f.text:
            module.load(f)
        else:
            module.pending.append(f)
    referenced: set[Path] = set()
    for block in module.resource_order:
        rtype = block.labels[0]
        if rtype not in POLICY_RESOURCES and rtype != GRANT_RESOURCE:
            continue
        origin = Origin(block.display, block.line, f"{rtype}.{block.labels[1]}")
        if rtype == GRANT_RESOURCE:
            variants = _variants(
                module, account, max_file_bytes, referenced, block, _grant, callers
            )
            items.append(IacItem(origin, block.end_line, variants=variants))
            continue
        if "policy" not in block.attrs:
            if rtype == "aws_kms_key_policy":
                items.append(IacItem(origin, block.end_line, error="`policy` is required"))
                continue
            items.append(
                IacItem(
                    origin,
                    block.end_line,
                    variants=(Variant(policy=default_key_policy(account)),),
                    notes=("no `policy`: the default key policy applies",),
                )
            )
            continue
        variants = _variants(module, account, max_file_bytes, referenced, block, _policy, callers)
        items.append(IacItem(origin, block.end_line, variants=variants))
    return module.errors + items, referenced


def _policy(ev: Evaluator, block: Block) -> Variant:
    value = ev.eval(block.attrs["policy"])
    return Variant(policy=value)


def _grant(ev: Evaluator, block: Block) -> Variant:
    a = block.attrs
    if "grantee_principal" not in a:
        raise Unresolved("`grantee_principal` is missing")
    grantee = to_str(ev.eval(a["grantee_principal"]))
    retiring = to_str(ev.eval(a["retiring_principal"])) if "retiring_principal" in a else None
    operations = (
        tuple(to_str(o) for o in as_list(ev.eval(a["operations"]))) if ("operations" in a) else ()
    )
    constraints: Any = None
    cblocks = [b for b in block.blocks if b.type == "constraints"]
    if cblocks:
        constraints = {k: ev.eval(v) for b in cblocks for k, v in b.attrs.items()}
    name = to_str(ev.eval(a["name"])) if "name" in a else None
    return Variant(
        grant=GrantSpec(
            grantee_principal=grantee,
            retiring_principal=retiring,
            operations=operations,
            constraints=constraints,
            name=name,
        )
    )


_LOCAL_SOURCE = re.compile(r'source\s*=\s*"\.\.?/')


def load_tfvars(module: Module, max_file_bytes: int) -> None:
    """The variable files Terraform reads by itself in a root module, in its order:
    `terraform.tfvars`, `terraform.tfvars.json`, then `*.auto.tfvars(.json)` by name."""
    folder = module.folder
    auto = sorted(
        p for p in folder.glob("*.auto.tfvars*") if p.name.endswith((".tfvars", ".tfvars.json"))
    )
    for path in [folder / "terraform.tfvars", folder / "terraform.tfvars.json", *auto]:
        if not path.is_file():
            continue
        display = str(path)
        try:
            if path.stat().st_size > max_file_bytes:
                raise ValueError("over the file size limit")
            text = read_text(path)
            if path.name.endswith(".json"):
                values = json.loads(text)
                if not isinstance(values, dict):
                    raise ValueError("not an object")
                for k, v in values.items():
                    module.tfvars[str(k)] = (None, v, display)
            else:
                attrs, _ = parse_body(trees(parse_hcl(text))[0], path, display)
                for k, expr in attrs.items():
                    module.tfvars[k] = (expr, None, display)
        except HclParseError as exc:
            module.errors.append(IacItem(Origin(display, exc.line), error=exc.message))
        except (OSError, ValueError) as exc:
            module.errors.append(IacItem(Origin(display), error=f"cannot read: {exc}"))


def find_callers(modules: dict[Path, list[TfFile]]) -> dict[Path, list[ModuleCall]]:
    """Module blocks with a local `source` ("./x", "../x"), by the resolved folder they
    call. Only files that contain such a block are parsed."""
    out: dict[Path, list[ModuleCall]] = {}
    for folder, files in modules.items():
        calling = [f for f in files if _LOCAL_SOURCE.search(f.text)]
        if not calling:
            continue
        parent = Module(folder, str(folder))
        load_tfvars(parent, _MAX_FILE_BYTES)
        parent.pending = [f for f in files if f not in calling]
        for f in calling:
            parent.load(f)
        for block in parent.calls.values():
            source = block.attrs.get("source")
            if source is None:
                continue
            try:
                value = Evaluator(parent, SELF, {}).eval(source)
            except Unresolved:
                continue
            if isinstance(value, str) and value.startswith(("./", "../")):
                child = (folder / value).resolve()
                for suffix, scope in _instances(Evaluator(parent, SELF, {}), block):
                    out.setdefault(child, []).append(ModuleCall(parent, block, suffix, scope))
    return out


def _instances(ev: Evaluator, block: Block) -> list[tuple[str, dict[str, Any] | None]]:
    """`for_each` / `count` instances whose keys are known; one unnamed instance else."""
    try:
        if "for_each" in block.attrs:
            coll = ev.eval(block.attrs["for_each"])
            pairs = list(coll.items()) if isinstance(coll, dict) else None
            if isinstance(coll, list):
                pairs = [(v, v) for v in coll]
            if pairs:
                return [
                    (f"[{json.dumps(k)}]", {"each": {"key": k, "value": v}})
                    for k, v in pairs[:MAX_INSTANCES]
                ]
        elif "count" in block.attrs:
            n = ev.eval(block.attrs["count"])
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                return [(f"[{i}]", {"count": {"index": i}}) for i in range(min(n, MAX_INSTANCES))]
    except Unresolved:
        pass
    return [("", None)]


def _variants(
    module: Module,
    account: str,
    max_file_bytes: int,
    referenced: set[Path],
    block: Block,
    build: Callable[[Evaluator, Block], Variant],
    callers: Sequence[ModuleCall] = (),
) -> tuple[Variant, ...]:
    def evaluator(choices: dict[str, bool], caller: ModuleCall | None) -> Evaluator:
        ev = Evaluator(module, account, choices, max_file_bytes=max_file_bytes, caller=caller)
        ev.files.append(block.display)
        return ev

    def run(
        choices: dict[str, bool],
        label: str,
        caller: ModuleCall | None,
        scope: dict[str, Any] | None,
    ) -> tuple[Variant, Evaluator]:
        ev = evaluator(choices, caller)
        if scope is not None:
            ev._scopes.append(scope)
        try:
            v = build(ev, block)
            v = Variant(
                label=label,
                policy=v.policy,
                grant=v.grant,
                unknowns=tuple(ev.unknowns),
                notes=tuple(sorted(ev.notes)),
            )
        except Unresolved as exc:
            v = Variant(label=label, unresolved=exc.reason)
        except RecursionError:
            v = Variant(label=label, unresolved="expression nested too deeply")
        referenced.update(ev.referenced)
        return v, ev

    out: list[Variant] = []
    contexts: list[ModuleCall | None] = list(callers[:MAX_INSTANCES]) or [None]
    for caller in contexts:
        for suffix, scope in _instances(evaluator({}, caller), block):
            parts = [
                p for p in (caller.label if caller else "", suffix and f"instance {suffix}") if p
            ]
            base = ", ".join(parts)
            first, ev = run({}, base, caller, scope)
            if not ev.used:
                out.append(first)
                continue
            keys = ev.used[:MAX_BRANCH_CHOICES]
            for combo in itertools.product((True, False), repeat=len(keys)):
                choices = dict(zip(keys, combo, strict=True))
                label = "conditional " + ", ".join(
                    f"{k}={'true' if c else 'false'}" for k, c in choices.items()
                )
                out.append(run(choices, ", ".join(p for p in (base, label) if p), caller, scope)[0])
    return tuple(out)


# -- modules installed by `terraform init` (registry, git) ------------------------------


def _read_module_files(folder: Path, max_file_bytes: int) -> list[TfFile]:
    files: list[TfFile] = []
    for path in sorted(folder.glob("*.tf")):
        try:
            if not path.is_file() or path.stat().st_size > max_file_bytes:
                continue
            files.append(TfFile(path, str(path), read_text(path)))
        except (OSError, ValueError):
            continue
    return files


def scan_installed_modules(
    folder: Path,
    files: list[TfFile],
    *,
    account: str,
    max_file_bytes: int = _MAX_FILE_BYTES,
) -> list[IacItem]:
    """KMS resources of the modules a root module calls from the registry or git, when
    `terraform init` installed them (`.terraform/modules/modules.json`). Each is judged
    with the arguments of its `module` block and reported at that block, as
    `module.NAME.TYPE.NAME`."""
    manifest = folder / ".terraform" / "modules" / "modules.json"
    try:
        entries = json.loads(read_text(manifest)).get("Modules") or []
    except (OSError, ValueError, AttributeError):
        return []
    parent: Module | None = None
    items: list[IacItem] = []
    for entry in entries:
        key = entry.get("Key") if isinstance(entry, dict) else None
        rel = entry.get("Dir") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key or "." in key or not isinstance(rel, str):
            continue  # the root itself, nested modules, or a malformed entry
        if rel.startswith(("./", "../")) or rel in (".", ".."):
            continue  # local modules are scanned as folders of their own
        child_dir = (folder / rel).resolve()
        if not child_dir.is_dir() or folder.resolve() not in child_dir.parents:
            continue
        child_files = _read_module_files(child_dir, max_file_bytes)
        if not any(MARKER in f.text for f in child_files):
            continue
        if parent is None:
            parent = Module(folder, str(folder), pending=list(files))
            load_tfvars(parent, max_file_bytes)
        call = parent.call(key)
        if call is None:
            continue
        calls = [
            ModuleCall(parent, call, suffix, scope)
            for suffix, scope in _instances(Evaluator(parent, SELF, {}), call)
        ]
        found, _ = scan_module(
            child_dir,
            str(child_dir),
            child_files,
            account=account,
            max_file_bytes=max_file_bytes,
            callers=calls,
        )
        for it in found:
            if it.error is not None:
                continue  # the installed copy is not the user's to fix
            origin = Origin(
                call.display, call.line, f"module.{key}.{it.origin.resource}", it.origin.account
            )
            items.append(
                IacItem(
                    origin,
                    call.end_line,
                    variants=it.variants,
                    notes=(
                        *it.notes,
                        f"judged from the installed module {entry.get('Source') or rel}",
                    ),
                )
            )
    return items
