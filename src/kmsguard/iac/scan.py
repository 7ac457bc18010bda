"""The IaC scan: discover files, turn each into key-policy items (CloudFormation, Terraform
HCL, plan JSON, plain policy JSON), and judge every item with the policy engine."""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kmsguard import rules, strictjson
from kmsguard.errors import PolicyParseError
from kmsguard.model import (
    SELF_ACCOUNT,
    Assessment,
    ExposureKind,
    Finding,
    Origin,
    Severity,
    TrustZone,
    Verdict,
)

from . import cloudformation, terraform
from .discover import (
    DEFAULT_MAX_BYTES,
    BinaryFileError,
    Candidate,
    FileKind,
    discover,
    read_text,
)
from .items import GrantSpec, IacItem, Unresolved, Variant
from .terraform import plan as tfplan
from .terraform import tfjson
from .unknowns import (
    OPEN,
    PLACEHOLDER,
    TOKEN,
    _arn_name_only,
    dependency,
    display,
    interpret,
    names_in,
    placeholders,
)


@dataclass(frozen=True, slots=True)
class ScanOptions:
    zone: TrustZone = field(default_factory=TrustZone)
    max_file_bytes: int = DEFAULT_MAX_BYTES
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Collected:
    items: tuple[IacItem, ...]
    files_scanned: int
    #: display path -> text lines, for files that produced items (inline suppressions)
    texts: dict[str, list[str]]
    #: things worth knowing that are no finding (module calls not followed, fragments)
    notes: tuple[str, ...] = ()


# -- collecting ----------------------------------------------------------------------


def _read(c: Candidate) -> tuple[str | None, IacItem | None]:
    try:
        return read_text(c.path), None
    except BinaryFileError:
        return None, IacItem(Origin(c.display), error="binary file, not a template")
    except UnicodeDecodeError:
        return None, IacItem(Origin(c.display), error="not UTF-8 text")
    except OSError as exc:
        return None, IacItem(Origin(c.display), error=f"cannot read: {exc.strerror or exc}")


def collect(paths: Iterable[Path], options: ScanOptions) -> Collected:
    account = options.zone.account
    found = discover(paths, max_bytes=options.max_file_bytes, exclude=options.exclude)
    items: list[IacItem] = [
        IacItem(Origin(p.display), error=p.message, hint=p.hint) for p in found.problems
    ]
    texts: dict[str, list[str]] = {}
    referenced: set[Path] = set()

    def keep(display: str, text: str, new: list[IacItem]) -> None:
        if new:
            items.extend(new)
            texts[display] = text.splitlines()

    # Terraform: one module per folder, parsed only when one of its files mentions KMS.
    folders: dict[Path, list[Candidate]] = defaultdict(list)
    others: list[Candidate] = []
    for c in found.candidates:
        if c.kind is FileKind.TERRAFORM:
            folders[c.path.parent].append(c)
        else:
            others.append(c)
    modules: dict[Path, list[terraform.TfFile]] = {}
    json_texts: dict[str, str] = {}  # Terraform JSON files: display -> original text
    context_only: set[str] = set()  # siblings read for context, not reported
    for folder, cands in folders.items():
        tf_files: list[terraform.TfFile] = []
        if any(c.explicit for c in cands):
            # a .tf file named on its own: its module's other files give the context
            named = {c.path.resolve() for c in cands}
            for sibling in sorted(folder.glob("*.tf")):
                if sibling.resolve() in named or not sibling.is_file():
                    continue
                if sibling.stat().st_size > options.max_file_bytes:
                    continue
                extra = Candidate(sibling, str(sibling), FileKind.TERRAFORM)
                text, err = _read(extra)
                if text is not None:
                    tf_files.append(terraform.TfFile(sibling, extra.display, text))
                    context_only.add(extra.display)
        for c in cands:
            text, err = _read(c)
            if err is None and text is not None and c.path.name.lower().endswith(".json"):
                json_texts[c.display] = text
                raw = text
                text, err = _tf_json(c, text)
                if err is not None and terraform.MARKER not in raw:
                    continue  # a broken JSON file that declares no KMS resource
            if err is not None:
                items.append(err)
            elif text is not None:
                tf_files.append(terraform.TfFile(c.path, c.display, text))
        modules[folder] = tf_files
    callers = terraform.find_callers(
        modules, on_error=lambda folder, exc: items.append(_internal_error(str(folder), exc))
    )
    library = terraform.ModuleLibrary(
        {folder.resolve(): (folder, tf_files) for folder, tf_files in modules.items()}
    )
    notes: list[str] = []
    for folder, tf_files in modules.items():
        try:
            notes.extend(terraform.skipped_module_calls(folder, tf_files))
            scanned, refs = _scan_folder(
                folder, tf_files, callers.get(folder.resolve(), ()), library, options
            )
        except Exception as exc:  # one module's bug must not cost the scan
            items.append(_internal_error(str(folder), exc))
            continue
        referenced |= refs
        by_file: dict[str, list[IacItem]] = defaultdict(list)
        for it in scanned:
            if it.origin.source in context_only:
                continue
            by_file[it.origin.source].append(_json_line(it, json_texts))
        for f in tf_files:
            keep(f.display, json_texts.get(f.display, f.text), by_file.get(f.display, []))

    policies: list[tuple[Candidate, str]] = []
    for c in others:
        text, err = _read(c)
        if err is not None:
            items.append(err)
            continue
        assert text is not None
        try:
            _scan_other(c, text, account, keep, policies, notes)
        except Exception as exc:  # one file's bug must not cost the scan
            items.append(_internal_error(c.display, exc))
    for c, text in policies:
        if c.path.resolve() in referenced:
            continue  # judged as part of the Terraform resource that reads it
        plain = _plain_policy(c, text)
        if not plain:
            continue  # not a key policy (an IAM policy, a template without KMS keys…)
        if '"Fn::' in text or re.search(r'\{\s*"Ref"\s*:', text):
            notes.append(
                f"{c.display}: a policy with CloudFormation intrinsics (`Fn::…`, `Ref`) is a "
                "fragment, not a template: skipped"
            )
            continue
        keep(c.display, text, plain)
    return Collected(tuple(items), len(found.candidates), texts, tuple(notes))


def _scan_folder(
    folder: Path,
    tf_files: list[terraform.TfFile],
    callers: Sequence[terraform.ModuleCall],
    library: terraform.ModuleLibrary,
    options: ScanOptions,
) -> tuple[list[IacItem], set[Path]]:
    """The items of one Terraform module (and of the modules `terraform init` installed
    for it), and the files its `file()` calls read."""
    account = options.zone.account
    try:
        installed = terraform.scan_installed_modules(
            folder, tf_files, account=account, max_file_bytes=options.max_file_bytes
        )
    except Exception as exc:  # the installed modules' bug is theirs alone
        installed = [_internal_error(str(folder / ".terraform" / "modules"), exc)]
    if not any(terraform.MARKER in f.text for f in tf_files):
        return installed, set()
    new, refs = terraform.scan_module(
        folder,
        str(folder),
        tf_files,
        account=account,
        max_file_bytes=options.max_file_bytes,
        callers=callers,
        library=library,
    )
    return [*new, *installed], refs


def _internal_error(display: str, exc: BaseException) -> IacItem:
    """An unexpected failure (a bug in kmsguard) while reading one file or module: that
    input's error finding; the scan goes on."""
    return IacItem(
        Origin(display),
        error=f"internal error while reading this input: {type(exc).__name__}: {exc}",
        hint="this is a bug in kmsguard; please report it with the input that caused it",
    )


#: A Terragrunt file that declares KMS resources or calls a module named for KMS.
_TERRAGRUNT_KMS = re.compile(r'aws_kms_|source\s*=\s*"[^"\n]*kms', re.IGNORECASE)


def _scan_other(
    c: Candidate,
    text: str,
    account: str,
    keep: Callable[[str, str, list[IacItem]], None],
    policies: list[tuple[Candidate, str]],
    notes: list[str],
) -> None:
    if c.kind is FileKind.TERRAGRUNT:
        if _TERRAGRUNT_KMS.search(text):
            notes.append(
                f"{c.display}: a Terragrunt configuration that uses a KMS module is not "
                "evaluated (its `terraform { source }` and `inputs`): scan the plan JSON "
                "(`terragrunt plan -out plan.out && terragrunt show -json plan.out`)"
            )
        return
    if any(m in text for m in cloudformation.MARKERS):
        is_json = text.lstrip().startswith("{")
        found = cloudformation.scan_template(text, c.display, is_json=is_json, account=account)
        if not found and "Resources" not in text:
            notes.append(
                f"{c.display}: names a KMS key but is not a template (no `Resources`), "
                "e.g. a fragment for a macro or `AWS::Include`: skipped"
            )
        keep(c.display, text, found)
    elif c.kind is FileKind.JSON and '"format_version"' in text:
        keep(c.display, text, _scan_plan(c, text, account))
    elif c.kind is FileKind.JSON and ('"Statement"' in text or '"Policy"' in text):
        policies.append((c, text))


def _tf_json(c: Candidate, text: str) -> tuple[str | None, IacItem | None]:
    """A `*.tf.json` file as the equivalent HCL text."""
    try:
        return tfjson.json_to_hcl(strictjson.loads(text)), None
    except json.JSONDecodeError as exc:
        return None, IacItem(Origin(c.display, exc.lineno), error=f"malformed JSON: {exc.msg}")
    except (ValueError, RecursionError) as exc:
        return None, IacItem(Origin(c.display), error=f"not Terraform JSON: {exc}")


def _json_line(item: IacItem, json_texts: dict[str, str]) -> IacItem:
    """Lines of items from `*.tf.json` files point into the JSON text, not the HCL."""
    text = json_texts.get(item.origin.source)
    if text is None:
        return item
    line = None
    if item.origin.resource and "." in item.origin.resource:
        rtype, name = item.origin.resource.split(".", 1)
        line = tfjson.json_resource_line(text, rtype, name)
    return replace(item, origin=replace(item.origin, line=line), end_line=None)


def _scan_plan(c: Candidate, text: str, account: str) -> list[IacItem]:
    try:
        doc = tfplan.load_plan(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return [IacItem(Origin(c.display, line), error=f"malformed JSON: {msg}")]
    if not tfplan.is_plan(doc):
        return []
    return tfplan.scan_plan(text, doc, c.display, account=account)


def _looks_like_key_policy(doc: Any, path: Path) -> bool:
    """A resource policy (it names principals) that grants KMS actions — not an IAM
    identity policy or another service's resource policy."""
    if isinstance(doc, dict) and isinstance(doc.get("Policy"), str):
        return True  # `aws kms get-key-policy` output
    if not isinstance(doc, dict):
        return False
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    has_principal = any(
        isinstance(s, dict) and ("Principal" in s or "NotPrincipal" in s) for s in statements
    )
    if not has_principal:
        return False
    text = json.dumps(statements).lower()
    return '"kms:' in text or "kms" in path.name.lower() or "key" in path.name.lower()


def _plain_policy(c: Candidate, text: str) -> list[IacItem]:
    try:
        doc = strictjson.loads(text)
    except strictjson.StrictJsonError as exc:
        with contextlib.suppress(json.JSONDecodeError, RecursionError):
            if not _looks_like_key_policy(json.loads(text), c.path):
                return []  # another kind of JSON file (a template, an IAM policy)
        # a number or duplicate key no policy may hold: an error for this file only
        return [IacItem(Origin(c.display, exc.lineno), error=f"unusable JSON: {exc.msg}")]
    except (json.JSONDecodeError, RecursionError):
        return []  # a JSON file that merely mentions "Statement": not ours to judge
    if not _looks_like_key_policy(doc, c.path):
        return []
    return [IacItem(Origin(c.display, 1), variants=(Variant(policy=doc),))]


# -- judging ---------------------------------------------------------------------------


def _judge_variant(variant: Variant, zone: TrustZone) -> tuple[Assessment, str]:
    """The assessment of one variant, and the reading of its unknowns that gave it (empty
    when there were none, or they did not change the verdict)."""
    if variant.unresolved is not None:
        return Assessment(Verdict.UNRESOLVED, Severity.NONE, errors=(variant.unresolved,)), ""
    if variant.absent:
        note = "not created with these values (`count = 0` or an empty `for_each`)"
        return Assessment(Verdict.PRIVATE, Severity.NONE, notes=(note,)), ""
    if variant.grant is not None:
        return _judge_grant(variant.grant, zone)
    raw = variant.policy
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    if OPEN not in text and "\\u27e6" not in text:
        return _analyze(raw, zone), ""
    if isinstance(raw, str) and OPEN not in raw:
        with contextlib.suppress(json.JSONDecodeError):
            raw = json.loads(raw)  # tokens escaped by `jsonencode`
    try:
        interp = interpret(raw, zone.account)
    except Unresolved as exc:
        return Assessment(Verdict.UNRESOLVED, Severity.NONE, errors=(exc.reason,)), ""
    judged = [
        (r, _renamed(_analyze(r.policy, zone, frozenset(a for a, _ in r.aliases)), r.aliases))
        for r in interp.readings
    ]
    reading, worst = max(judged, key=lambda p: (p[1].verdict.rank, p[1].severity.rank))
    notes = list(interp.notes)
    sentence = dependency(interp.roles, [(r, str(a.verdict)) for r, a in judged])
    if sentence is not None:
        notes.append(sentence)
    if interp.harmless:
        notes.append(
            "read as placeholders (they cannot change who is outside the zone of trust): "
            + ", ".join(display(n) for n in interp.harmless)
        )
    label = reading.label if len({a.verdict for _, a in judged}) > 1 else ""
    if interp.unknown_statements:
        what = ", ".join(display(n) for n in interp.unknown_statements)
        if worst.verdict is Verdict.PRIVATE:
            reason = (
                f"statements from {what} are known only at deployment; the known ones are private"
            )
            return (
                Assessment(Verdict.UNRESOLVED, Severity.NONE, errors=(reason,), notes=tuple(notes)),
                "",
            )
        notes.append(f"statements from {what} are known only at deployment; judged without them")
    return replace(worst, notes=(*worst.notes, *notes)), label


def _judge_grant(g: GrantSpec, zone: TrustZone) -> tuple[Assessment, str]:
    from kmsguard.policy import Grant, judge_grant

    names = [n for p in (g.grantee_principal, g.retiring_principal or "") for n in names_in(p)]
    judged: list[tuple[str, Assessment]] = []
    for inside in (True, False) if names else (True,):
        table = {
            n: (zone.account if inside else str(999_900_000_000 + i)) for i, n in enumerate(names)
        }

        def sub(value: str, table: dict[str, str] = table) -> str:
            if _arn_name_only(value):
                return TOKEN.sub(PLACEHOLDER, value)
            return TOKEN.sub(lambda m: table[m.group(1)], value)

        name = TOKEN.sub(PLACEHOLDER, g.name) if g.name else None
        grant = Grant(
            grant_id=name or "(terraform)",
            grantee_principal=sub(g.grantee_principal),
            retiring_principal=sub(g.retiring_principal) if g.retiring_principal else None,
            operations=_grant_operations(g.operations),
            constraints=placeholders(g.constraints),
            name=name,
        )
        aliases = tuple((table[n], n) for n in names) if not inside else ()
        where = "is one of your accounts" if inside else "is another account"
        label = ", ".join(f"{display(n)} {where}" for n in names)
        judged.append((label, _renamed(judge_grant(grant, zone), aliases)))
    label, worst = max(judged, key=lambda p: (p[1].verdict.rank, p[1].severity.rank))
    unknown_ops = [n for op in g.operations for n in names_in(op)]
    if unknown_ops:
        what = ", ".join(display(n) for n in dict.fromkeys(unknown_ops))
        note = f"operations from {what} read as any operation"
        worst = replace(worst, notes=(*worst.notes, note))
    if len({a.verdict for _, a in judged}) > 1:
        best = min(judged, key=lambda p: p[1].verdict.rank)[1].verdict
        what = ", ".join(display(n) for n in names)
        verb = "names one of your accounts" if len(names) == 1 else "each name one of your accounts"
        note = f"{best} if {what} {verb}, {worst.verdict} otherwise"
        return replace(worst, notes=(*worst.notes, note)), label
    return worst, ""


#: Every operation a grant can allow: an unknown operation is read as any of them.
GRANT_OPERATIONS = (
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "GenerateMac", "VerifyMac",
    "DeriveSharedSecret", "CreateGrant", "RetireGrant", "DescribeKey",
)  # fmt: skip


def _grant_operations(operations: tuple[str, ...]) -> tuple[str, ...]:
    if not any(OPEN in op for op in operations):
        return operations
    known = [op for op in operations if OPEN not in op]
    return tuple(dict.fromkeys([*known, *GRANT_OPERATIONS]))


def _renamed(a: Assessment, aliases: tuple[tuple[str, str], ...]) -> Assessment:
    """Exposures to an outside value that stands for an unknown name the unknown."""
    if not aliases or not a.exposures:
        return a

    def name(text: str) -> str:
        for fake, unknown in aliases:
            # "`var.x`" -> <var.x>; "parameter `X`" -> <parameter X>
            text = text.replace(fake, f"<{unknown.replace('`', '')}>")
        return text

    exposures = tuple(
        replace(
            e,
            principals=tuple(name(p) for p in e.principals),
            witness=(
                replace(
                    e.witness, principal=name(e.witness.principal), account=name(e.witness.account)
                )
                if e.witness is not None
                else None
            ),
        )
        for e in a.exposures
    )
    return replace(a, exposures=exposures)


def _analyze(raw: Any, zone: TrustZone, stand_ins: frozenset[str] = frozenset()) -> Assessment:
    """`stand_ins`: outside accounts that stand for unknown values; never the owner."""
    from kmsguard.policy import (
        analyze_inferring_owner,
        analyze_policy,
        infer_owner_account,
        parse_policy,
    )

    try:
        policy = parse_policy(raw)
        if stand_ins and infer_owner_account(policy) in stand_ins:
            return analyze_policy(policy, zone)
        # a template that names its own account literally (not as AWS::AccountId /
        # aws_caller_identity) has its owner read from the administrator statement
        return analyze_inferring_owner(policy, zone)
    except PolicyParseError as exc:
        return Assessment.unreadable(exc.message)


def _rule_id(a: Assessment, *, grant: bool) -> str | None:
    if a.verdict in (Verdict.PUBLIC, Verdict.CROSS_ACCOUNT) and (
        grant or (a.exposures and all(e.kind is ExposureKind.GRANT for e in a.exposures))
    ):
        return rules.EXTERNAL_GRANT
    rid = rules.rule_for_assessment(a)
    if rid is None and a.exposures:
        return rules.rule_for_exposure(a.exposures[0].kind)
    return rid


def judge(item: IacItem, zone: TrustZone) -> Finding:
    if item.origin.account and zone.account == SELF_ACCOUNT:
        zone = replace(zone, account=item.origin.account)
    zone = replace(zone, trusted_orgs=zone.trusted_orgs | {terraform.SELF_ORG})
    if item.error is not None or not item.variants:
        message = item.error or "nothing could be read for this resource"
        errors = (message,) if item.hint is None else (message, f"hint: {item.hint}")
        a = Assessment.unreadable(*errors, notes=item.notes)
        return Finding(item.origin, rules.UNREADABLE, a)
    judged = [(v, *_judge_variant(v, zone)) for v in item.variants]
    variant, worst, reading = max(judged, key=lambda p: (p[1].verdict.rank, p[1].severity.rank))
    notes = list(item.notes) + list(variant.notes) + list(worst.notes)
    if len(judged) > 1:
        if len(judged) <= 4:
            summary = "; ".join(f"{v.label}: {a.verdict}" for v, a, _ in judged)
        else:
            counts = Counter(str(a.verdict) for _, a, _ in judged)
            summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda p: -p[1]))
        notes.append(f"{len(judged)} variants judged ({summary}); the worst is reported")
    assessment = replace(worst, notes=tuple(dict.fromkeys(notes)))
    extra: tuple[tuple[str, str], ...] = ()
    label = ", ".join(p for p in (variant.label, reading) if p)
    if label:
        extra = (("branch", label),)
    rule_id = _rule_id(assessment, grant=variant.grant is not None)
    return Finding(item.origin, rule_id, assessment, extra=extra)


def judge_all(items: Sequence[IacItem], zone: TrustZone) -> list[Finding]:
    out: list[Finding] = []
    for item in items:
        try:
            out.append(judge(item, zone))
        except Exception as exc:  # one policy's bug must not cost the scan
            err = _internal_error(item.origin.source, exc)
            out.append(judge(replace(err, origin=item.origin), zone))
    return out
