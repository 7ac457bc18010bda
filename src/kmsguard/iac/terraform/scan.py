"""Terraform HCL: find KMS key policies and grants in each module and evaluate their
expressions (`references.Evaluator`), including modules installed by `terraform init`.

Each folder is one module. Its `.tf` files are parsed with python-hcl2's HCL2 grammar
(raw Lark tree, which keeps line numbers) and expressions are evaluated: literals,
templates, heredocs, `jsonencode`, `file`, `templatefile`, locals, variable defaults,
`data.aws_iam_policy_document`, `data.aws_caller_identity` (the own account) and common
functions. Whatever cannot be known before `terraform plan` raises `Unresolved`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kmsguard.iac.discover import read_text
from kmsguard.iac.items import (
    MAX_BRANCH_CHOICES,
    GrantSpec,
    IacItem,
    Unresolved,
    Variant,
    default_key_policy,
)
from kmsguard.iac.terraform.functions import (
    as_list,
    to_str,
)
from kmsguard.iac.terraform.hcl import (
    Block,
    HclParseError,
    parse_body,
    parse_hcl,
    trees,
)
from kmsguard.iac.terraform.modules import (
    _MAX_FILE_BYTES,
    GRANT_RESOURCE,
    MARKER,
    MAX_INSTANCES,
    POLICY_RESOURCES,
    Module,
    ModuleCall,
    ModuleLibrary,
    TfFile,
)
from kmsguard.iac.terraform.references import Evaluator
from kmsguard.iac.unknowns import Unknown
from kmsguard.model import SELF_ACCOUNT as SELF
from kmsguard.model import Origin

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
    for block in list(module.resource_order):
        rtype = block.labels[0]
        if rtype not in POLICY_RESOURCES and rtype != GRANT_RESOURCE:
            continue
        origin = Origin(block.display, block.line, f"{rtype}.{block.labels[1]}")
        try:
            items.append(
                _resource_item(module, account, max_file_bytes, referenced, block, origin, callers)
            )
        except Exception as exc:  # one resource's bug must not cost the scan
            items.append(
                IacItem(
                    origin,
                    block.end_line,
                    error=f"internal error while reading this resource: "
                    f"{type(exc).__name__}: {exc}",
                    hint="this is a bug in kmsguard; please report it with the input",
                )
            )
    return module.errors + items, referenced


def _resource_item(
    module: Module,
    account: str,
    max_file_bytes: int,
    referenced: set[Path],
    block: Block,
    origin: Origin,
    callers: Sequence[ModuleCall],
) -> IacItem:
    rtype = block.labels[0]
    if rtype == GRANT_RESOURCE:
        variants = _variants(module, account, max_file_bytes, referenced, block, _grant, callers)
        return IacItem(origin, block.end_line, variants=variants)
    if "policy" not in block.attrs:
        if rtype == "aws_kms_key_policy":
            return IacItem(origin, block.end_line, error="`policy` is required")
        return IacItem(
            origin,
            block.end_line,
            variants=(Variant(policy=default_key_policy(account)),),
            notes=("no `policy`: the default key policy applies",),
        )
    variants = _variants(module, account, max_file_bytes, referenced, block, _policy, callers)
    return IacItem(origin, block.end_line, variants=variants)


def _policy(ev: Evaluator, block: Block) -> Variant:
    value = ev.eval(block.attrs["policy"])
    if (value is None or value == "") and block.labels[0] != "aws_kms_key_policy":
        # the provider treats an empty or null `policy` as "not set": AWS's default policy
        ev.notes.add("empty `policy`: the default key policy applies")
        return Variant(policy=default_key_policy(ev.account))
    return Variant(policy=value)


def _grant(ev: Evaluator, block: Block) -> Variant:
    a = block.attrs
    if "grantee_principal" not in a:
        raise Unresolved("`grantee_principal` is missing")
    grantee = to_str(ev.eval(a["grantee_principal"]))
    retiring_value = ev.eval(a["retiring_principal"]) if "retiring_principal" in a else None
    retiring = None if retiring_value is None else to_str(retiring_value)
    operations = (
        tuple(to_str(o) for o in as_list(ev.eval(a["operations"]))) if "operations" in a else ()
    )
    constraints: Any = None
    cblocks = [b for b in block.blocks if b.type == "constraints"]
    if cblocks:
        constraints = {k: ev.eval(v) for b in cblocks for k, v in b.attrs.items()}
    name_value = ev.eval(a["name"]) if "name" in a else None
    name = None if name_value is None else to_str(name_value)
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


def find_callers(
    modules: dict[Path, list[TfFile]],
    on_error: Callable[[Path, Exception], None] | None = None,
) -> dict[Path, list[ModuleCall]]:
    """Module blocks with a local `source` ("./x", "../x"), by the resolved folder they
    call. Only files that contain such a block are parsed. An unexpected failure in one
    folder goes to `on_error` (or up, without it) and the other folders are still read."""
    out: dict[Path, list[ModuleCall]] = {}
    for folder, files in modules.items():
        calling = [f for f in files if _LOCAL_SOURCE.search(f.text)]
        if not calling:
            continue
        try:
            _find_calls(folder, files, calling, out)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(folder, exc)
    return out


def _find_calls(
    folder: Path, files: list[TfFile], calling: list[TfFile], out: dict[Path, list[ModuleCall]]
) -> None:
    parent = Module(folder, str(folder))
    load_tfvars(parent, _MAX_FILE_BYTES)
    parent.pending = [f for f in files if f not in calling]
    for f in calling:
        parent.load(f)
    # a snapshot: evaluating `for_each` may load another file, adding its module blocks
    for block in list(parent.calls.values()):
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


def _instances(ev: Evaluator, block: Block) -> list[tuple[str, dict[str, Any] | None]]:
    """Every `for_each` / `count` instance; when the collection or count is not known (or
    has more than `MAX_INSTANCES` members), one symbolic instance whose `each` / `count`
    values are unknown, so a conditional on them is judged both ways."""
    try:
        if "for_each" in block.attrs:
            coll = ev.eval(block.attrs["for_each"])
            pairs = list(coll.items()) if isinstance(coll, dict) else None
            if isinstance(coll, list):
                pairs = [(v, v) for v in coll]
            if pairs is not None and len(pairs) <= MAX_INSTANCES:
                # an empty collection: no instance is created with these values
                return [(f"[{_key_label(k)}]", {"each": {"key": k, "value": v}}) for k, v in pairs]
            return [
                (
                    "[each]",
                    {"each": {"key": Unknown("`each.key`"), "value": Unknown("`each.value`")}},
                )
            ]
        if "count" in block.attrs:
            n = ev.eval(block.attrs["count"])
            if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_INSTANCES:
                return [(f"[{i}]", {"count": {"index": i}}) for i in range(n)]
            return [("[count.index]", {"count": {"index": Unknown("`count.index`")}})]
    except Unresolved:
        return [
            (
                "[each]",
                {
                    "each": {"key": Unknown("`each.key`"), "value": Unknown("`each.value`")},
                    "count": {"index": Unknown("`count.index`")},
                },
            )
        ]
    return [("", None)]


def _key_label(key: Any) -> str:
    """An instance key as Terraform writes it (`["a"]`), an unknown one by its name."""
    if isinstance(key, Unknown):
        return f"<{key.name.replace(chr(0x2236), ':').replace('`', '')}>"
    return json.dumps(key, ensure_ascii=False)


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
    contexts: list[ModuleCall | None] = list(callers) or [None]
    for caller in contexts:
        instances = _instances(evaluator({}, caller), block)
        if not instances:
            label = caller.label if caller else ""
            out.append(
                Variant(label=", ".join(p for p in (label, "no instance") if p), absent=True)
            )
        for suffix, scope in instances:
            parts = [
                p for p in (caller.label if caller else "", suffix and f"instance {suffix}") if p
            ]
            base = ", ".join(parts)
            first, ev = run({}, base, caller, scope)
            if not ev.used:
                out.append(first)
                continue
            keys = ev.used[:MAX_BRANCH_CHOICES]
            capped = _capped_note(len(ev.used))
            for combo in itertools.product((True, False), repeat=len(keys)):
                choices = dict(zip(keys, combo, strict=True))
                label = "conditional " + ", ".join(
                    f"{k}={'true' if c else 'false'}" for k, c in choices.items()
                )
                v = run(choices, ", ".join(p for p in (base, label) if p), caller, scope)[0]
                out.append(replace(v, notes=(*v.notes, *capped)))
    return tuple(out)


def _capped_note(conditions: int) -> tuple[str, ...]:
    if conditions <= MAX_BRANCH_CHOICES:
        return ()
    return (
        f"{conditions} conditionals with unknown conditions: the first {MAX_BRANCH_CHOICES} "
        "are judged both ways, the others on their true branch",
    )


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


_MODULE_BLOCK = re.compile(r'^[ \t]*module\s+"([^"]+)"\s*\{', re.MULTILINE)
_SOURCE_ATTR = re.compile(r'^[ \t]*source\s*=\s*"([^"]*)"', re.MULTILINE)


def skipped_module_calls(folder: Path, files: list[TfFile]) -> list[str]:
    """One note per `module` block whose source is the registry or git and that
    `terraform init` has not installed: kmsguard cannot see the keys it creates."""
    installed: set[str] = set()
    manifest = folder / ".terraform" / "modules" / "modules.json"
    try:
        entries = json.loads(read_text(manifest)).get("Modules") or []
        installed = {str(e.get("Key")) for e in entries if isinstance(e, dict)}
    except (OSError, ValueError, AttributeError):
        pass
    notes: list[str] = []
    for f in files:
        for m in _MODULE_BLOCK.finditer(f.text):
            name = m.group(1)
            source = _SOURCE_ATTR.search(f.text, m.end())
            next_block = _MODULE_BLOCK.search(f.text, m.end())
            if source is None or (next_block is not None and source.start() > next_block.start()):
                continue
            src = source.group(1)
            if src.startswith(("./", "../")) or name in installed:
                continue
            line = f.text.count("\n", 0, m.start()) + 1
            notes.append(
                f"{f.display}:{line}: module `{name}` (`{src}`) was not followed: run "
                "`terraform init` first (kmsguard reads `.terraform/modules`), or scan the "
                "plan JSON"
            )
    return notes


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
