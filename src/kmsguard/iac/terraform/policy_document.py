"""`data "aws_iam_policy_document"` rendered to the JSON key policy it stands for: statements,
`principals`, `condition`, `dynamic` blocks, and source / override documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kmsguard.iac.items import (
    Unresolved,
)
from kmsguard.iac.terraform.evaluator import ExpressionEvaluator, _collection
from kmsguard.iac.terraform.functions import (
    as_list,
    merge_statements,
    statements_of,
    to_str,
)
from kmsguard.iac.terraform.hcl import (
    Block,
    name_of,
    trees,
)


class PolicyDocumentEvaluator(ExpressionEvaluator):
    """Adds `aws_iam_policy_document` rendering to the expression evaluator."""

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
        collection = _collection(self.eval(block.attrs["for_each"], depth))
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

    ev: PolicyDocumentEvaluator
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
