"""The Terraform HCL expression evaluator: literals, templates, heredocs, operators,
conditionals, `for` expressions and function calls (`file`, `templatefile` and the table in
`functions`). References (variables, locals, data sources, module outputs) are resolved by
the subclass in `references`; whatever cannot be known before `terraform plan` raises
`Unresolved`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Token, Tree

from kmsguard import safeio, strictjson
from kmsguard.iac.discover import read_text
from kmsguard.iac.items import (
    Unresolved,
)
from kmsguard.iac.terraform.functions import (
    FUNCTIONS,
    LIST_ARGUMENTS,
    SPECIAL_FUNCTIONS,
    STRING_FUNCTIONS,
    binary_op,
    to_str,
)
from kmsguard.iac.terraform.hcl import (
    Block,
    Node,
    heredoc_body,
    parse_expression,
    template_nodes,
    trees,
    unescape,
)
from kmsguard.iac.terraform.modules import _MAX_FILE_BYTES, Module, ModuleCall
from kmsguard.iac.unknowns import Unknown, has_unknown

_MAX_DEPTH = 64



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

class ExpressionEvaluator:
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
                if isinstance(cond, Unknown):
                    raise Unresolved(f"a template `%{{ if }}` condition depends on {cond.name}")
                if not isinstance(cond, bool):
                    raise Unresolved("a template `%{ if }` condition is not a boolean")
                self._render(node[2] if cond else node[3], out, depth + 1, quoted=quoted)
            else:  # for
                names, coll_src, body = node[1], node[2], node[3]
                coll = _collection(self.eval(parse_expression(coll_src), depth))
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
            return Unknown(exc.reason)

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
            if has_unknown(cond):
                raise Unresolved("the condition is known only at deployment")
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
        if isinstance(value, Unknown):
            raise Unresolved(f"`{op}` of {value.name}")
        if op == "!" and isinstance(value, bool):
            return not value
        if op == "-" and isinstance(value, int | float) and not isinstance(value, bool):
            return -value
        raise Unresolved(f"cannot apply `{op}` to this value")

    # -- references (resolved by `references.Evaluator`) ---------------------------------
    def _traversal(self, node: Tree[Token], depth: int) -> Any:
        raise Unresolved("references are not evaluated here")

    def _reference(self, root: str, steps: list[tuple[str, Any]], depth: int) -> Any:
        raise Unresolved(f"`{root}` is not evaluated here")

    def _splat(self, node: Tree[Token], depth: int) -> Any:
        raise Unresolved("splat expressions are not evaluated here")

    # -- functions -------------------------------------------------------------------
    def _call(self, node: Tree[Token], depth: int) -> Any:
        parts = trees(node)
        names = [str(p.children[0]) for p in parts if p.data == "identifier"]
        # `provider::aws::arn_build(…)`: a provider-defined function (Terraform 1.8)
        fname = "::".join(names) if len(names) > 1 else names[-1]
        args_node = next((p for p in parts if p.data == "arguments"), None)
        arg_nodes = trees(args_node) if args_node is not None else []
        expand = args_node is not None and any(
            isinstance(c, Token) and c.type == "ELLIPSIS" for c in args_node.children
        )
        if expand and fname in SPECIAL_FUNCTIONS:
            raise Unresolved(f"argument expansion (`...`) in `{fname}()` is not evaluated")
        if fname == "try":
            last: Unresolved | None = None
            for a in arg_nodes:
                try:
                    return self.eval(a, depth)
                except Unresolved as exc:
                    last = exc
            raise last or Unresolved("`try()` without arguments")
        if fname == "can":
            # unknown values are values now (`Unknown`): what raises is a real error
            try:
                value = self.eval(arg_nodes[0], depth)
            except Unresolved:
                return False
            return Unknown("`can(…)`") if has_unknown(value) else True
        if fname == "templatefile":
            return self._templatefile(arg_nodes, depth)
        args = [self.eval(a, depth) for a in arg_nodes]
        if expand and args and not isinstance(args[-1], Unknown):
            # `f(a, list...)`: the list's elements are the last arguments (an unknown
            # list stays one unknown argument)
            last = args.pop()
            if not isinstance(last, list):
                raise Unresolved(f"`{fname}(…...)` expands a value that is not a list")
            args.extend(last)
        if fname == "file":
            return self._file(args)
        fn = FUNCTIONS.get(fname)
        if fn is None:
            # a function kmsguard does not evaluate: its value is symbolic, not an error
            return Unknown(f"`{fname}(…)`")
        if fname in LIST_ARGUMENTS:
            args = [[a] if isinstance(a, Unknown) else a for a in args]
        elif fname not in STRING_FUNCTIONS:
            bare = next((a for a in args if isinstance(a, Unknown)), None)
            if bare is not None:
                return Unknown(f"`{fname}({bare.name.strip('`')})`")
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
        # grouping mode (`k => v...`): each key maps to the list of its values
        group = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
        cond = parts[3] if len(parts) > 3 else None
        out: dict[str, Any] = {}
        for scope in self._for_scopes(intro, depth):
            self._scopes.append(scope)
            try:
                if cond is None or self._for_cond(cond, depth):
                    key = to_str(self.eval(key_node, depth))
                    value = self.eval(value_node, depth)
                    if group:
                        out.setdefault(key, []).append(value)
                    else:
                        out[key] = value
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
        collection = _collection(self.eval(parts[-1], depth))
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


def _collection(value: Any) -> Any:
    """An unknown collection is read as one element of unknown value, under an unknown
    key: every element is alike as far as the policy can tell."""
    if isinstance(value, Unknown):
        return {Unknown(f"`{value.name.strip('`')}` key"): value.attr("*")}
    return value


_TRAVERSAL_NODES = frozenset({"get_attr_expr_term", "index_expr_term", "identifier"})
_HANDLERS: dict[str, Callable[[ExpressionEvaluator, Tree[Token], int], Any]] = {
    "expr_term": lambda e, n, d: (
        e._traversal(n, d)
        if trees(n) and trees(n)[0].data in _TRAVERSAL_NODES
        else e._expr_term(n, d)
    ),
    "string": ExpressionEvaluator._string,
    "literal_value": ExpressionEvaluator._literal,
    "int_lit": ExpressionEvaluator._int,
    "float_lit": ExpressionEvaluator._float,
    "tuple": ExpressionEvaluator._tuple,
    "object": ExpressionEvaluator._object,
    "heredoc_template": ExpressionEvaluator._heredoc,
    "heredoc_template_trim": ExpressionEvaluator._heredoc,
    "conditional": ExpressionEvaluator._conditional,
    "binary_op": ExpressionEvaluator._binary,
    "unary_op": ExpressionEvaluator._unary,
    "function_call": ExpressionEvaluator._call,
    "identifier": lambda e, n, d: e._reference(str(n.children[0]), [], d),
    "get_attr_expr_term": lambda e, n, d: e._traversal(n, d),
    "index_expr_term": lambda e, n, d: e._traversal(n, d),
    "for_tuple_expr": ExpressionEvaluator._for_tuple,
    "full_splat_expr_term": lambda e, n, d: e._splat(n, d),
    "attr_splat_expr_term": lambda e, n, d: e._splat(n, d),
    "for_object_expr": ExpressionEvaluator._for_object,
}
