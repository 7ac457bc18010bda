"""CloudFormation templates (YAML with short-form intrinsic tags, or JSON; SAM and CDK output):
find `AWS::KMS::Key` / `AWS::KMS::ReplicaKey` key policies and resolve their intrinsics."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from kmsguard.model import Origin

from .cfn_template import CfnParseError, LineDict, load_template
from .items import MAX_BRANCH_CHOICES, IacItem, Unresolved, Variant, default_key_policy
from .unknowns import OPEN, Unknown, has_unknown

KEY_TYPES = ("AWS::KMS::Key", "AWS::KMS::ReplicaKey")
MARKERS = KEY_TYPES
#: Region and stack name are not known before deployment; they never decide exposure.
PLACEHOLDER_REGION = "us-east-1"
PLACEHOLDER_STACK = "stack"


_NOVALUE = object()


def _is_custom(res: Any) -> bool:
    """Custom resources return what their Lambda decides: nothing is known before."""
    rtype = str(res.get("Type", "")) if isinstance(res, dict) else ""
    return rtype.startswith("Custom::") or rtype == "AWS::CloudFormation::CustomResource"


def _arn_for(rtype: str, logical: str, props: Any, account: str) -> str:
    parts = rtype.split("::")
    service = parts[1].lower() if len(parts) > 2 else "unknown"
    if rtype in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
        kind = parts[2].lower()
        name_prop = {"role": "RoleName", "user": "UserName", "group": "GroupName"}[kind]
        name = props.get(name_prop) if isinstance(props, dict) else None
        name = name if isinstance(name, str) else logical
        return f"arn:aws:iam::{account}:{kind}/{name}"
    return f"arn:aws:{service}:{PLACEHOLDER_REGION}:{account}:{logical}"


class CfnResolver:
    """Resolves intrinsic functions to JSON values. `choices` picks each `Fn::If` branch
    by condition name (true by default); `used` records the names met."""

    def __init__(
        self,
        template: dict[str, Any],
        account: str,
        choices: dict[str, int],
        *,
        serverless: dict[str, Any] | None = None,
    ) -> None:
        self.serverless = serverless  # a Serverless Framework file: its `${...}` variables
        params = template.get("Parameters")
        self.params: dict[str, Any] = params if isinstance(params, dict) else {}
        mappings = template.get("Mappings")
        self.mappings: dict[str, Any] = mappings if isinstance(mappings, dict) else {}
        resources = template.get("Resources")
        self.resources: dict[str, Any] = resources if isinstance(resources, dict) else {}
        self.account = account
        self.choices = choices
        self.used: dict[str, tuple[str, ...]] = {}  # choice -> its options, in order met
        self.notes: set[str] = set()
        self.unknowns: list[str] = []

    def _embedded(self, value: Any, depth: int, what: str) -> str:
        """A string part of `Fn::Sub` / `Fn::Join`: unknown values become `MARKER`
        (settled later, see `unknowns`), so a role name from a parameter without default
        does not hide a known account."""
        try:
            return self._scalar(value, depth, what)
        except Unresolved as exc:
            if exc.reason not in self.unknowns:
                self.unknowns.append(exc.reason)
            return Unknown(exc.reason)

    def _serverless_vars(self, text: str) -> Any:
        """Serverless Framework variables: `${aws:accountId}` is the own account,
        `${self:a.b}` a value of the file, `${opt:x, 'default'}` its default; others are
        known only at deployment."""
        whole = re.fullmatch(r"\$\{([^{}]+)\}", text)

        def value_of(expr: str) -> Any:
            source, _, default = expr.partition(",")
            source = source.strip()
            found = self._serverless_source(source)
            if found is not None:
                return found
            if default.strip():
                return default.strip().strip("'\"")
            if source in ("opt:stage", "sls:stage", "provider:stage"):
                return "dev"  # the framework's default stage
            raise Unresolved(f"the Serverless variable `${{{source}}}` is set at deployment")

        if whole is not None:
            return value_of(whole.group(1))

        def repl(m: re.Match[str]) -> str:
            try:
                value = value_of(m.group(1))
            except Unresolved as exc:
                if exc.reason not in self.unknowns:
                    self.unknowns.append(exc.reason)
                return Unknown(exc.reason)
            return value if isinstance(value, str) else json.dumps(value)

        return re.sub(r"\$\{([^{}]+)\}", repl, text)

    def _serverless_source(self, source: str) -> Any:
        match source:
            case "aws:accountId":
                return self.account
            case "aws:partition":
                return "aws"
            case "aws:region" | "opt:region" | "sls:region" | "provider:region":
                self.notes.add(f"`{source}` taken as {PLACEHOLDER_REGION}")
                return PLACEHOLDER_REGION
        if source.startswith("self:") and self.serverless is not None:
            node: Any = self.serverless
            for part in source[5:].split("."):
                if not isinstance(node, dict) or part not in node:
                    return None
                node = node[part]
            return None if isinstance(node, dict | list) else self.resolve(node)
        return None

    def _choose(self, key: str, options: tuple[str, ...]) -> int:
        self.used.setdefault(key, options)
        return self.choices.get(key, 0)

    # -- entry point -------------------------------------------------------------
    def resolve(self, value: Any, depth: int = 0) -> Any:
        if depth > 100:
            raise Unresolved("template nested too deeply")
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref" or (isinstance(key, str) and key.startswith("Fn::")):
                    return self._intrinsic(key, arg, depth)
            out: dict[str, Any] = {}
            for k, v in value.items():
                r = self.resolve(v, depth + 1)
                if r is not _NOVALUE:
                    out[str(k)] = r
            return out
        if isinstance(value, list):
            return [r for r in (self.resolve(v, depth + 1) for v in value) if r is not _NOVALUE]
        if isinstance(value, str) and self.serverless is not None and "${" in value:
            return self._serverless_vars(value)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        # numbers (an unquoted account id in YAML), dates (`Version: 2012-10-17`) and other
        # scalars: policy values are strings, the author meant their text
        return str(value)

    def _scalar(self, value: Any, depth: int, what: str) -> str:
        r = self.resolve(value, depth + 1)
        if isinstance(r, bool):
            return "true" if r else "false"
        if isinstance(r, int | float | str):
            return str(r)
        raise Unresolved(f"{what} is not a string")

    def _list(self, value: Any, depth: int, what: str) -> list[Any]:
        r = self.resolve(value, depth + 1)
        if not isinstance(r, list):
            raise Unresolved(f"{what} is not a list")
        return r

    # -- intrinsics --------------------------------------------------------------
    def _intrinsic(self, name: str, arg: Any, depth: int) -> Any:
        match name:
            case "Ref":
                return self._ref(self._scalar(arg, depth, "`Ref` target"))
            case "Fn::GetAtt":
                if isinstance(arg, str):
                    arg = arg.split(".", 1)
                if not isinstance(arg, list) or len(arg) != 2:
                    raise Unresolved("malformed `Fn::GetAtt`")
                return self._getatt(
                    self._scalar(arg[0], depth, "`Fn::GetAtt` resource"),
                    self._scalar(arg[1], depth, "`Fn::GetAtt` attribute"),
                )
            case "Fn::Sub":
                return self._sub(arg, depth)
            case "Fn::Join":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise Unresolved("malformed `Fn::Join`")
                sep = self._scalar(arg[0], depth, "`Fn::Join` delimiter")
                # a literal list: each item on its own, so one unknown name stays local
                items = arg[1] if isinstance(arg[1], list) else self._list(arg[1], depth, "list")
                if len(items) == 1:
                    return self._scalar(items[0], depth, "`Fn::Join` item")
                return sep.join(self._embedded(i, depth, "`Fn::Join` item") for i in items)
            case "Fn::If":
                if not isinstance(arg, list) or len(arg) != 3 or not isinstance(arg[0], str):
                    raise Unresolved("malformed `Fn::If`")
                branch_index = self._choose(f"condition {arg[0]}", ("true", "false"))
                branch = arg[1] if branch_index == 0 else arg[2]
                return self.resolve(branch, depth + 1)
            case "Fn::Select":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise Unresolved("malformed `Fn::Select`")
                index = self._scalar(arg[0], depth, "`Fn::Select` index")
                items = self._list(arg[1], depth, "`Fn::Select` list")
                if not index.isdigit() or int(index) >= len(items):
                    raise Unresolved(f"`Fn::Select` index `{index}` is out of range")
                return items[int(index)]
            case "Fn::Split":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise Unresolved("malformed `Fn::Split`")
                sep = self._scalar(arg[0], depth, "`Fn::Split` delimiter")
                return self._scalar(arg[1], depth, "`Fn::Split` source").split(sep)
            case "Fn::FindInMap":
                return self._find_in_map(arg, depth)
            case "Fn::Base64":
                return self._scalar(arg, depth, "`Fn::Base64` input")
            case "Fn::ToJsonString":
                return json.dumps(self.resolve(arg, depth + 1), separators=(",", ":"))
            case "Fn::Length":
                return len(self._list(arg, depth, "`Fn::Length` input"))
            case "Fn::GetAZs":
                return [f"{PLACEHOLDER_REGION}{z}" for z in "abc"]
            case "Fn::ImportValue":
                return self._import_value(arg, depth)
            case "Fn::Transform":
                macro = arg.get("Name") if isinstance(arg, dict) else None
                return Unknown(f"`Fn::Transform {macro or ''}` (expanded at deploy time)")
            case _:
                return Unknown(f"`{name}` (resolved at deploy time)")

    def _import_value(self, arg: Any, depth: int) -> Unknown:
        """An export of another stack; its name (`!Sub "${Stack}-Id"`) resolved when it can
        be, to say which value the verdict depends on."""
        try:
            name = arg if isinstance(arg, str) else self.resolve(arg, depth + 1)
        except Unresolved:
            name = None
        if isinstance(name, str) and OPEN not in name:
            return Unknown(f"`Fn::ImportValue {name}` (from another stack)")
        return Unknown("`Fn::ImportValue` of a computed name (from another stack)")

    def _ref(self, name: str) -> Any:
        match name:
            case "AWS::AccountId":
                return self.account
            case "AWS::Partition":
                return "aws"
            case "AWS::URLSuffix":
                return "amazonaws.com"
            case "AWS::Region":
                self.notes.add(f"`AWS::Region` taken as {PLACEHOLDER_REGION}")
                return PLACEHOLDER_REGION
            case "AWS::StackName":
                return PLACEHOLDER_STACK
            case "AWS::StackId":
                return (
                    f"arn:aws:cloudformation:{PLACEHOLDER_REGION}:{self.account}:"
                    f"stack/{PLACEHOLDER_STACK}/id"
                )
            case "AWS::NoValue":
                return _NOVALUE
        if name in self.params:
            return self._param(name, self.params[name])
        if name in self.resources:
            if _is_custom(self.resources[name]):
                raise Unresolved(f"`Ref {name}` is computed by a custom resource")
            return name  # a physical id of the own stack: its name is not known yet
        raise Unresolved(f"`Ref {name}` names no parameter or resource of the template")

    def _param(self, name: str, spec: Any) -> Any:
        if not isinstance(spec, dict):
            return Unknown(f"parameter `{name}`")
        ptype = str(spec.get("Type", "String"))
        if ptype.startswith("AWS::SSM::Parameter::Value"):
            unknown = Unknown(f"parameter `{name}` (read from SSM at deployment)")
            return [unknown] if "List<" in ptype else unknown
        allowed = spec.get("AllowedValues")
        if "Default" in spec:
            default = self.resolve(spec["Default"])
        elif (
            isinstance(allowed, list)
            and allowed
            and all(isinstance(v, str | int | float) for v in allowed)
        ):
            # no default, but a closed set of values: every one is judged
            options = tuple(str(v) for v in allowed)
            default = options[self._choose(f"parameter {name}", options)]
        else:
            unknown = Unknown(f"parameter `{name}`")
            return (
                [unknown] if ptype.startswith("List<") or ptype == "CommaDelimitedList" else unknown
            )
        if (ptype.startswith("List<") or ptype == "CommaDelimitedList") and isinstance(
            default, str
        ):
            return [p.strip() for p in default.split(",")]
        if isinstance(default, bool | int | float):
            return str(default).lower() if isinstance(default, bool) else str(default)
        return default

    def _getatt(self, logical: str, attr: str) -> Any:
        res = self.resources.get(logical)
        if not isinstance(res, dict):
            raise Unresolved(f"`Fn::GetAtt {logical}.{attr}` names no resource of the template")
        if _is_custom(res):
            raise Unresolved(f"`Fn::GetAtt {logical}.{attr}` is computed by a custom resource")
        if attr == "Arn":
            return _arn_for(str(res.get("Type", "")), logical, res.get("Properties"), self.account)
        return f"{logical}.{attr}"

    def _sub(self, arg: Any, depth: int) -> str:
        variables: dict[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise Unresolved("malformed `Fn::Sub`")
            template, variables = arg[0], arg[1]
        else:
            template = arg
        if not isinstance(template, str):
            raise Unresolved("`Fn::Sub` template is not a string")

        whole = re.fullmatch(r"\$\{[^}]*\}", template) is not None

        def repl(m: re.Match[str]) -> str:
            if whole or m.group(1).startswith("!"):
                return value_of(m)
            try:
                return value_of(m)
            except Unresolved as exc:
                if exc.reason not in self.unknowns:
                    self.unknowns.append(exc.reason)
                return Unknown(exc.reason)

        def value_of(m: re.Match[str]) -> str:
            inner = m.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            inner = inner.strip()
            if inner in variables:
                return self._scalar(variables[inner], depth, f"`Fn::Sub` variable `{inner}`")
            if "." in inner and not inner.startswith("AWS::"):
                logical, attr = inner.split(".", 1)
                return self._scalar(self._getatt(logical, attr), depth, f"`${{{inner}}}`")
            value = self._ref(inner)
            if value is _NOVALUE:
                raise Unresolved("`AWS::NoValue` inside `Fn::Sub`")
            return self._scalar(value, depth, f"`${{{inner}}}`")

        return re.sub(r"\$\{([^}]*)\}", repl, template)

    def _find_in_map(self, arg: Any, depth: int) -> Any:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            raise Unresolved("malformed `Fn::FindInMap`")
        keys = [self._scalar(a, depth, "`Fn::FindInMap` key") for a in arg[:3]]
        node: Any = self.mappings
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self.resolve(arg[3]["DefaultValue"], depth + 1)
                raise Unresolved(f"`Fn::FindInMap` finds no `{'/'.join(keys)}`")
            node = node[k]
        return self.resolve(node, depth + 1)


def _variants(
    template: dict[str, Any],
    value: Any,
    account: str,
    serverless: dict[str, Any] | None = None,
) -> tuple[Variant, ...]:
    """Resolve once; if `Fn::If` conditions or parameters with allowed values but no
    default were met, resolve every combination of them (up to 32)."""
    first = CfnResolver(template, account, {}, serverless=serverless)
    try:
        policy = first.resolve(value)
        unresolved = None
    except Unresolved as exc:
        policy, unresolved = None, exc.reason
    if not first.used:
        return (
            Variant(
                policy=policy,
                unresolved=unresolved,
                unknowns=tuple(first.unknowns),
                notes=tuple(sorted(first.notes)),
            ),
        )
    keys = list(first.used)[:MAX_BRANCH_CHOICES]
    capped: tuple[str, ...] = ()
    if len(first.used) > MAX_BRANCH_CHOICES:
        capped = (
            f"{len(first.used)} conditions and parameters with several values: the first "
            f"{MAX_BRANCH_CHOICES} are judged every way, the others on their first value",
        )
    combos = itertools.islice(
        itertools.product(*(range(len(first.used[k])) for k in keys)), 2**MAX_BRANCH_CHOICES
    )
    out: list[Variant] = []
    for combo in combos:
        choices = dict(zip(keys, combo, strict=True))
        resolver = CfnResolver(template, account, choices, serverless=serverless)
        label = ", ".join(f"{k}={first.used[k][i]}" for k, i in choices.items())
        try:
            resolved = resolver.resolve(value)
            out.append(
                Variant(
                    label=label,
                    policy=resolved,
                    unknowns=tuple(resolver.unknowns),
                    notes=(*sorted(resolver.notes), *capped),
                )
            )
        except Unresolved as exc:
            out.append(Variant(label=label, unresolved=exc.reason, notes=capped))
    return tuple(out)


def _json_key_line(text: str, key: str, start: int = 0) -> tuple[int, int] | None:
    m = re.compile(r'"' + re.escape(key) + r'"\s*:').search(text, start)
    if m is None:
        return None
    return text.count("\n", 0, m.start()) + 1, m.end()


def _foreach_substitute(value: Any, ident: str, item: str) -> Any:
    """`Fn::ForEach` replaces `${Id}` / `&{Id}` in strings and `Ref: Id` by the item."""
    if isinstance(value, str):
        alnum = re.sub(r"[^A-Za-z0-9]", "", item)
        return value.replace("${" + ident + "}", item).replace("&{" + ident + "}", alnum)
    if isinstance(value, list):
        return [_foreach_substitute(v, ident, item) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and value.get("Ref") == ident:
            return item
        out = LineDict()
        if isinstance(value, LineDict):
            out.line, out.end_line = value.line, value.end_line
        for k, v in value.items():
            out[_foreach_substitute(k, ident, item)] = _foreach_substitute(v, ident, item)
        return out
    return value


def _expand_resources(
    template: dict[str, Any], resources: dict[str, Any], account: str
) -> list[tuple[str, str, Any]]:
    """(logical id, id whose line to report, definition) of every resource, with
    `Fn::ForEach::` loops (AWS::LanguageExtensions) unrolled. A loop over values that are
    not known yields its body with the reason, so its keys are not passed silently."""
    out: list[tuple[str, str, Any]] = []

    def walk(entries: dict[str, Any], line_key: str | None, depth: int) -> None:
        for logical, res in entries.items():
            key = line_key or str(logical)
            if not str(logical).startswith("Fn::ForEach::"):
                out.append((str(logical), key, res))
                continue
            if depth > 5 or not isinstance(res, list) or len(res) != 3:
                continue
            ident, collection, body = res
            if not isinstance(ident, str) or not isinstance(body, dict):
                continue
            reason = "`Fn::ForEach` collection is not a list"
            try:
                items = CfnResolver(template, account, {}).resolve(collection)
            except Unresolved as exc:
                items, reason = None, exc.reason
            if isinstance(items, list) and has_unknown(items):
                items, reason = None, "`Fn::ForEach` loops over values known only at deployment"
            if not isinstance(items, list):
                for inner, definition in body.items():
                    out.append((str(inner), key, _Unexpandable(definition, reason)))
                continue
            for item in items:
                walk(
                    {
                        _foreach_substitute(k, ident, str(item)): _foreach_substitute(
                            v, ident, str(item)
                        )
                        for k, v in body.items()
                    },
                    key,
                    depth + 1,
                )

    walk(resources, None, 0)
    return out


@dataclass(frozen=True, slots=True)
class _Unexpandable:
    definition: Any
    reason: str


def scan_template(text: str, display: str, *, is_json: bool, account: str) -> list[IacItem]:
    """Every KMS key of one template; a template that cannot be read is one error item.
    Serverless Framework files (`resources.Resources`) are read too."""
    try:
        doc = load_template(text, is_json=is_json)
    except CfnParseError as exc:
        return [IacItem(origin=Origin(display, exc.line), error=exc.message)]
    if not isinstance(doc, dict):
        return []
    template: dict[str, Any] = doc
    serverless: dict[str, Any] | None = None
    if not isinstance(doc.get("Resources"), dict):
        nested = doc.get("resources")
        if not (isinstance(nested, dict) and isinstance(nested.get("Resources"), dict)):
            return []
        template, serverless = nested, doc
    resources: dict[str, Any] = template["Resources"]
    res_start = _json_key_line(text, "Resources") if is_json else None
    items: list[IacItem] = []
    for logical, line_key, res in _expand_resources(template, resources, account):
        definition = res.definition if isinstance(res, _Unexpandable) else res
        if not isinstance(definition, dict) or definition.get("Type") not in KEY_TYPES:
            continue
        line: int | None
        end_line: int | None = None
        if isinstance(resources, LineDict):
            line = resources.key_lines.get(line_key)
            end_line = definition.end_line if isinstance(definition, LineDict) else None
        else:
            found = _json_key_line(text, line_key, res_start[1] if res_start else 0)
            line = found[0] if found else None
        origin = Origin(display, line, logical)
        if isinstance(res, _Unexpandable):
            items.append(IacItem(origin, end_line, variants=(Variant(unresolved=res.reason),)))
            continue
        items.append(_key_item(template, definition, origin, end_line, account, serverless))
    return items


def _key_item(
    template: dict[str, Any],
    res: dict[str, Any],
    origin: Origin,
    end_line: int | None,
    account: str,
    serverless: dict[str, Any] | None,
) -> IacItem:
    props = res.get("Properties")
    notes: tuple[str, ...] = ()
    if props is not None and not isinstance(props, dict):
        return IacItem(origin, end_line, error="`Properties` is not a mapping")
    transform = props.get("Fn::Transform") if isinstance(props, dict) else None
    if transform is not None and isinstance(props, dict):
        name = transform.get("Name") if isinstance(transform, dict) else None
        what = f"`Fn::Transform {name or ''}`".replace(" `", "`")
        if "KeyPolicy" not in props:
            reason = f"the key's properties are expanded at deploy time by {what}"
            return IacItem(origin, end_line, variants=(Variant(unresolved=reason),))
        notes = (f"{what} on the properties is expanded at deploy time and may change them",)
        judged = _variants(template, props["KeyPolicy"], account, serverless)
        meta = res.get("Metadata")
        kmsguard_meta = meta.get("kmsguard") if isinstance(meta, dict) else None
        return IacItem(origin, end_line, variants=judged, notes=notes, metadata=kmsguard_meta)
    if props is None or "KeyPolicy" not in props:
        if res.get("Type") == "AWS::KMS::ReplicaKey":
            return IacItem(origin, end_line, error="`KeyPolicy` is required")
        variants: tuple[Variant, ...] = (Variant(policy=default_key_policy(account)),)
        notes = ("no `KeyPolicy`: the default key policy applies",)
    else:
        variants = _variants(template, props["KeyPolicy"], account, serverless)
    meta = res.get("Metadata")
    kmsguard_meta = meta.get("kmsguard") if isinstance(meta, dict) else None
    return IacItem(origin, end_line, variants=variants, notes=notes, metadata=kmsguard_meta)
