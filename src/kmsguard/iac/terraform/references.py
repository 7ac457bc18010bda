"""The evaluator of one module: expressions (`evaluator`), policy documents
(`policy_document`) and references — variables (from the calling `module` blocks, tfvars
and defaults), locals, data sources, resource attributes and module outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lark import Token, Tree

from kmsguard.iac.items import (
    Unresolved,
)
from kmsguard.iac.terraform.functions import (
    to_str,
)
from kmsguard.iac.terraform.hcl import (
    Block,
    name_of,
    trees,
)
from kmsguard.iac.terraform.modules import PLACEHOLDER_REGION, SELF_ORG, ModuleCall
from kmsguard.iac.terraform.policy_document import PolicyDocumentEvaluator
from kmsguard.iac.terraform.types import convert
from kmsguard.iac.unknowns import Unknown


class Evaluator(PolicyDocumentEvaluator):
    """Evaluates expressions of one module. `choices` picks the branch of each conditional
    whose condition is unknown (by source position; true by default); `used` records them."""

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

    def _splat(self, node: Tree[Token], depth: int) -> Any:
        """`list[*].attr` / `list.*.attr`: the attribute of every element (a single value
        is a list of one, null an empty list)."""
        base_node, splat = trees(node)[:2]
        steps: list[tuple[str, Any]] = []
        for op in trees(splat):
            if op.data == "get_attr":
                steps.append(("attr", name_of(trees(op)[0])))
            elif op.data == "index":
                steps.append(("index", op))
        resource = _resource_ref(base_node)
        if resource is not None:
            # `aws_iam_role.r[*].arn`: every instance of an own resource looks alike
            return [self._resource_attr(resource[0], resource[1], steps, depth)]
        base = self.eval(base_node, depth)
        if isinstance(base, Unknown):
            return [self._apply(base.attr("*"), steps, depth)]
        if base is None:
            return []
        elements = base if isinstance(base, list) else [base]
        return [self._apply(e, steps, depth) for e in elements]

    def _index_value(self, index: Tree[Token], depth: int) -> Any:
        if index.data == "short_index":
            return int(str(index.children[-1]))
        return self.eval(trees(index)[0], depth)

    def _apply(self, value: Any, steps: list[tuple[str, Any]], depth: int) -> Any:
        for kind, arg in steps:
            key = arg if kind == "attr" else self._index_value(arg, depth)
            if isinstance(value, Unknown):
                value = value.attr(key)
                continue
            if isinstance(key, Unknown):
                return Unknown(f"an element of a collection at {key.name}")
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
                return Unknown(f"`{_render_ref(root, steps)}` (its instances are not known)")
            case "module" if len(attrs) >= 2:
                return self._module_output(attrs[0], attrs[1], _after_name(steps, 2), depth)
            case _ if root.startswith(("aws_", "awscc_")) and attrs:
                return self._resource_attr(root, attrs[0], _after_name(steps, 1), depth)
        return Unknown(f"`{_render_ref(root, steps)}`")

    def _variable(self, name: str, depth: int) -> Any:
        block = self.module.variable(name)
        if block is None:
            # declared elsewhere (Terragrunt generates variables, say): known at deployment
            self.notes.add(f"`var.{name}` is not declared in the module")
            return Unknown(f"`var.{name}`")
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
                return self._typed(block, parent.eval(self.caller.block.attrs[name], depth), depth)
            finally:
                self.used.extend(k for k in parent.used if k not in self.used)
                self.unknowns.extend(r for r in parent.unknowns if r not in self.unknowns)
                self.referenced |= parent.referenced
        if name in self.module.tfvars:
            expr, constant, source = self.module.tfvars[name]
            self.notes.add(f"`var.{name}` from {source}")
            if expr is None:
                return self._typed(block, constant, depth)
            value = self._in_file(block, lambda: self.eval(expr, depth), f"var.{name}")
            return self._typed(block, value, depth)
        if "default" not in block.attrs:
            return Unknown(f"`var.{name}`")
        value = self._in_file(
            block, lambda: self.eval(block.attrs["default"], depth), f"var.{name}"
        )
        return self._typed(block, value, depth)

    def _typed(self, block: Block, value: Any, depth: int) -> Any:
        """The value converted to the variable's `type`, as Terraform does: `optional()`
        attributes filled with their default or null, numbers given for strings as text."""
        if "type" not in block.attrs:
            return value
        return convert(
            value,
            block.attrs["type"],
            lambda n: self._in_file(block, lambda: self.eval(n, depth), "type"),
        )

    def _module_output(
        self, name: str, output: str, rest: list[tuple[str, Any]], depth: int
    ) -> Any:
        """`module.NAME.OUTPUT` of a local module that was scanned too: the output's value,
        evaluated in that module with the arguments this call passes."""
        call = self.module.call(name)
        unknown = Unknown(f"`module.{name}.{output}`")
        if call is None:
            return self._apply(unknown, rest, depth)
        source = self.eval(call.attrs["source"], depth) if "source" in call.attrs else None
        if not isinstance(source, str) or not source.startswith(("./", "../")):
            return self._apply(unknown, rest, depth)
        library = self.module.library
        child = library.get((self.module.folder / source).resolve()) if library else None
        if child is None:
            return self._apply(unknown, rest, depth)
        block = child.output(output)
        if block is None or "value" not in block.attrs:
            return self._apply(unknown, rest, depth)
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
                self.notes.add(f"`data.aws_caller_identity.{name}` is the deploying account")
                return self.account
            case "aws_organizations_organization", "id":
                self.notes.add(
                    f"`data.aws_organizations_organization.{name}` is your organization "
                    "(inside the zone of trust)"
                )
                return SELF_ORG
            case "aws_organizations_organization", (
                "accounts" | "non_master_accounts" | "master_account_id"
            ):
                self.notes.add(
                    f"accounts of `data.aws_organizations_organization.{name}` are read as "
                    "your accounts"
                )
                if attr == "master_account_id":
                    return self.account
                return self._apply(
                    [{"id": self.account, "arn": f"arn:aws:iam::{self.account}:root"}], after, depth
                )
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
        what = f"data.{dtype}.{name}" + (f".{attr}" if attr else "")
        return self._apply(Unknown(f"`{what}`"), after, depth)

    def _resource_attr(self, rtype: str, name: str, rest: list[tuple[str, Any]], depth: int) -> Any:
        block = self.module.resource(rtype, name)
        attrs = [a for k, a in rest if k == "attr"]
        attr = attrs[0] if attrs else None
        if block is None or attr is None:
            return Unknown(f"`{rtype}.{name}" + (f".{attr}`" if attr else "`"))
        if rtype in ("aws_organizations_account",):
            return Unknown(f"`{rtype}.{name}.{attr}` (created at apply time)")
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


def _resource_ref(node: Tree[Token]) -> tuple[str, str] | None:
    """(type, name) when `node` is `aws_TYPE.NAME` and nothing more."""
    while node.data == "expr_term" and len(trees(node)) == 1 and len(node.children) == 1:
        node = trees(node)[0]
    if node.data != "get_attr_expr_term":
        return None
    base, attr = trees(node)
    while base.data == "expr_term" and len(trees(base)) == 1 and len(base.children) == 1:
        base = trees(base)[0]
    if base.data != "identifier" or not str(base.children[0]).startswith(("aws_", "awscc_")):
        return None
    return str(base.children[0]), name_of(trees(attr)[0])


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
