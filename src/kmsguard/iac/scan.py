"""The IaC scan: discover files, turn each into key-policy items (CloudFormation, Terraform
HCL, plan JSON, plain policy JSON), and judge every item with the policy engine."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
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
from .items import IacItem, Unresolved, Variant
from .terraform import plan as tfplan
from .terraform import tfjson
from .unknowns import settle, settle_string


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
    callers = terraform.find_callers(modules)
    library = terraform.ModuleLibrary(
        {folder.resolve(): (folder, tf_files) for folder, tf_files in modules.items()}
    )
    for folder, tf_files in modules.items():
        installed = terraform.scan_installed_modules(
            folder, tf_files, account=account, max_file_bytes=options.max_file_bytes
        )
        if not any(terraform.MARKER in f.text for f in tf_files):
            for f in tf_files:
                keep(f.display, f.text, [i for i in installed if i.origin.source == f.display])
            continue
        new, refs = terraform.scan_module(
            folder,
            str(folder),
            tf_files,
            account=account,
            max_file_bytes=options.max_file_bytes,
            callers=callers.get(folder.resolve(), ()),
            library=library,
        )
        referenced |= refs
        by_file: dict[str, list[IacItem]] = defaultdict(list)
        for it in [*new, *installed]:
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
        if any(m in text for m in cloudformation.MARKERS):
            is_json = text.lstrip().startswith("{")
            keep(
                c.display,
                text,
                cloudformation.scan_template(text, c.display, is_json=is_json, account=account),
            )
        elif c.kind is FileKind.JSON and '"format_version"' in text:
            keep(c.display, text, _scan_plan(c, text, account))
        elif c.kind is FileKind.JSON and ('"Statement"' in text or '"Policy"' in text):
            policies.append((c, text))
    for c, text in policies:
        if c.path.resolve() in referenced:
            continue  # judged as part of the Terraform resource that reads it
        keep(c.display, text, _plain_policy(c, text))
    return Collected(tuple(items), len(found.candidates), texts)


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
        # a number or duplicate key no policy may hold: an error for this file only
        return [IacItem(Origin(c.display, exc.lineno), error=f"unusable JSON: {exc.msg}")]
    except (json.JSONDecodeError, RecursionError):
        return []  # a JSON file that merely mentions "Statement": not ours to judge
    if not _looks_like_key_policy(doc, c.path):
        return []
    return [IacItem(Origin(c.display, 1), variants=(Variant(policy=doc),))]


# -- judging ---------------------------------------------------------------------------



def _judge_variant(variant: Variant, zone: TrustZone) -> Assessment:
    from kmsguard.policy import Grant, judge_grant

    if variant.unresolved is not None:
        return Assessment(Verdict.UNRESOLVED, Severity.NONE, errors=(variant.unresolved,))
    if variant.grant is not None:
        g = variant.grant
        try:
            grantee = settle_string(g.grantee_principal, "the grantee")
            retiring = (
                settle_string(g.retiring_principal, "the retiring principal")
                if g.retiring_principal
                else None
            )
        except Unresolved as exc:
            errors = (exc.reason, *variant.unknowns)
            return Assessment(Verdict.UNRESOLVED, Severity.NONE, errors=errors)
        grant = Grant(
            grant_id=g.name or "(terraform)",
            grantee_principal=grantee,
            retiring_principal=retiring,
            operations=g.operations,
            constraints=g.constraints,
            name=g.name,
        )
        return judge_grant(grant, zone)
    raw = variant.policy
    settled_note: tuple[str, ...] = ()
    if variant.unknowns:
        try:
            raw, changed = settle(raw)
        except Unresolved as exc:
            errors = (exc.reason, *variant.unknowns)
            return Assessment(Verdict.UNRESOLVED, Severity.NONE, errors=errors)
        if changed:
            settled_note = (
                "names not known before deployment were read as placeholders "
                "(they cannot change who is outside the zone of trust): "
                + "; ".join(variant.unknowns),
            )
    a = _analyze(raw, zone)
    return replace(a, notes=(*a.notes, *settled_note)) if settled_note else a


def _analyze(raw: Any, zone: TrustZone) -> Assessment:
    from kmsguard.policy import analyze_inferring_owner, parse_policy

    try:
        # a template that names its own account literally (not as AWS::AccountId /
        # aws_caller_identity) has its owner read from the administrator statement
        return analyze_inferring_owner(parse_policy(raw), zone)
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
    judged = [(v, _judge_variant(v, zone)) for v in item.variants]
    variant, worst = max(judged, key=lambda p: (p[1].verdict.rank, p[1].severity.rank))
    notes = list(item.notes) + list(variant.notes) + list(worst.notes)
    if len(judged) > 1:
        summary = ", ".join(f"{v.label}: {a.verdict}" for v, a in judged)
        notes.append(f"judged {len(judged)} variants, reporting the worst ({summary})")
    assessment = replace(worst, notes=tuple(notes))
    extra: tuple[tuple[str, str], ...] = ()
    if variant.label:
        extra = (("branch", variant.label),)
    rule_id = _rule_id(assessment, grant=variant.grant is not None)
    return Finding(item.origin, rule_id, assessment, extra=extra)


def judge_all(items: Sequence[IacItem], zone: TrustZone) -> list[Finding]:
    return [judge(i, zone) for i in items]
