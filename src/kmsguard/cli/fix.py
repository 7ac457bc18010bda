"""`kmsguard fix plan|apply|rollback|history`: least-privilege key policies planned from
observed usage, verified by the engine, applied with the previous policy saved first."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from kmsguard import safeio
from kmsguard.errors import InputError
from kmsguard.policy.remediation import Strategy
from kmsguard.report.escape import terminal_lines

from .common import (
    _account,
    aws_session,
    echo_warning,
    format_option,
    gathered,
    output_option,
    write_output,
    zone_options,
)

if TYPE_CHECKING:
    from kmsguard.fix.kms import KeyPolicyClient
    from kmsguard.fix.outcome import Applied, Skipped
    from kmsguard.fix.planning import Offer, SavedPlan
    from kmsguard.store.policy_versions import PolicyVersionStore

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def fix() -> None:
    """Least-privilege key policies that keep observed callers working.

    \b
    kmsguard fix plan --key ARN --usage USAGE.json      plan and verify (changes nothing)
    kmsguard fix apply --key ARN --plan PLAN.json --yes  apply, saving the old policy first
    kmsguard fix rollback --key ARN --yes                restore the saved policy
    kmsguard fix history --key ARN                       list saved versions

    \b
    Examples:
      kmsguard fix plan --key arn:aws:kms:eu-west-1:123456789012:key/K --cloudtrail ./logs
      kmsguard fix apply --key arn:aws:kms:eu-west-1:123456789012:key/K --plan plan.json --yes
    """


# --------------------------------------------------------------------------- options


def _plan_options(f: F) -> F:
    """The evidence, strategy and zone of trust a plan is made from."""
    decorators = [
        click.option(
            "--usage",
            "usage_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A usage report (`kmsguard usage --format json`).",
        ),
        click.option(
            "--cloudtrail",
            "cloudtrail",
            multiple=True,
            metavar="SOURCE",
            help="CloudTrail logs to read usage from: a folder or s3:// URL (repeatable).",
        ),
        click.option("--since", help="With --cloudtrail: start of the usage window (e.g. 90d)."),
        click.option("--until", help="With --cloudtrail: end of the usage window."),
        click.option(
            "--allow-no-usage",
            is_flag=True,
            help="Plan even when the evidence holds no event for the key (anyone who relies "
            "on it may be locked out).",
        ),
        click.option(
            "--usage-key",
            metavar="ARN",
            help="Which key of a multi-key usage report the --policy file belongs to.",
        ),
        click.option(
            "--strategy",
            type=click.Choice([s.value for s in Strategy]),
            default=Strategy.PRINCIPALS.value,
            show_default=True,
            help="principals: name observed callers; account: add kms:CallerAccount; "
            "org: add aws:PrincipalOrgID.",
        ),
        click.option(
            "--keep-external",
            "keep_external",
            multiple=True,
            callback=_account,
            metavar="ACCOUNT",
            help="Keep the observed callers of this outside account (repeatable).",
        ),
        zone_options,
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def _aws_options(f: F) -> F:
    f = click.option("--profile", help="AWS profile to use.")(f)
    return click.option("--region", help="Region of the key (default: from the key ARN).")(f)


def _store_options(f: F) -> F:
    f = click.option(
        "--record",
        is_flag=True,
        help="Also record the change in the findings history (resolves or reopens the "
        "key's key-policy findings).",
    )(f)
    f = click.option(
        "--db",
        "db_url",
        metavar="URL",
        help="Database of saved policies (default: SQLite in the user data folder).",
    )(f)
    return click.option(
        "--backup-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for backup files of replaced policies (default: in the user data folder).",
    )(f)


def _format_option(f: F) -> F:
    return format_option(["text", "json"])(f)


# --------------------------------------------------------------------------- plumbing


def _kms(key: str, profile: str | None, region: str | None) -> KeyPolicyClient:
    from kmsguard.arn import region_of
    from kmsguard.fix.kms import KeyPolicyClient

    session = aws_session(profile)
    return KeyPolicyClient(session.client("kms", region_name=region or region_of(key)))


def _store(db_url: str | None) -> PolicyVersionStore:
    from kmsguard.store import PolicyVersionStore, open_database

    return PolicyVersionStore(open_database(db_url))


# --------------------------------------------------------------------------- rendering


def _refuse_plan(offer: Offer) -> None:
    from kmsguard.fix.planning import PlanRefusedError

    failed = [c for c in offer.verification.checks if not c.ok]
    names = ", ".join(c.name for c in failed)
    hint = "see the verification results above"
    if any(c.name == "lockout" for c in failed):
        hint = (
            "the replacement would stop key administrators from managing the key; add an "
            "admin statement (e.g. for the account root) or use --strategy account"
        )
    elif any(c.name == "size" for c in failed):
        hint = "too many callers to name one by one: use --strategy account or --strategy org"
    elif any(c.name == "verdict" for c in failed):
        hint = "try --strategy principals, or check the zone of trust options"
    raise PlanRefusedError(f"no plan offered: verification failed ({names})", hint=hint)


# --------------------------------------------------------------------------- commands


@fix.command()
@click.option("--key", metavar="ARN", help="Plan for a live key (reads its policy).")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Plan for a key policy file (instead of a live key).",
)
@_plan_options
@_aws_options
@_format_option
@output_option
def plan(
    key: str | None,
    fmt: str,
    output: Path | None,
    profile: str | None,
    region: str | None,
    **options: Any,
) -> int:
    """Plan a least-privilege replacement policy and verify it (changes nothing).

    \b
    Examples:
      kmsguard fix plan --key arn:aws:kms:eu-west-1:123456789012:key/K --usage usage.json
      kmsguard fix plan --policy policy.json --cloudtrail ./logs --since 90d
      kmsguard fix plan --key ARN --usage usage.json --format json -o plan.json
    """
    from kmsguard.fix.offer import offer_for

    kms = _kms(key, profile, region) if key else None
    offer = offer_for(key=key, kms=kms, warn=echo_warning, **options)
    if fmt == "json":
        text = json.dumps(offer.to_json(), indent=2)
    else:
        from kmsguard.report.fix_text import render_offer

        text = render_offer(offer)
    write_output(text, output)
    if offer.plan.changed and not offer.verification.ok:
        _refuse_plan(offer)
    return 0


def _render_result(result: Applied | Skipped, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2)
    from kmsguard.report.fix_text import render_fix_result

    return render_fix_result(result)


@dataclass(frozen=True, slots=True)
class _Write:
    """What `fix apply` and `fix rollback` share: the key's client, the store of saved
    policies, the backup folder, and how the outcome is shown and recorded."""

    profile: str | None
    region: str | None
    db_url: str | None
    backup_dir: Path | None
    record: bool
    fmt: str
    output: Path | None

    def kms(self, key: str) -> KeyPolicyClient:
        return _kms(key, self.profile, self.region)

    def store(self) -> PolicyVersionStore:
        return _store(self.db_url)

    def backups(self) -> Path:
        from kmsguard.fix.backup import default_backup_dir

        return self.backup_dir or default_backup_dir()

    def finish(self, result: Applied | Skipped) -> int:
        from kmsguard.fix.apply import FixRefusedError
        from kmsguard.fix.outcome import Applied

        write_output(_render_result(result, self.fmt), self.output)
        if isinstance(result, Applied):
            if self.record:
                from .record import record_fix

                record_fix(result, self.db_url)
            if not result.readback_matches:
                echo_warning("the policy read back differs from the one sent")
            return 0
        if result.refused:
            hint = (
                "plan again with `kmsguard fix plan --key ARN ...`"
                if result.reason == "stale"
                else "nothing was changed"
            )
            raise FixRefusedError(f"refused ({result.reason}): {result.detail}", hint=hint)
        return 0


def _write_options(f: F) -> F:
    """--profile, --region, --record, --db, --backup-dir, --format and --output, handed to
    the command as one `write: _Write`."""

    wrapped: Any = gathered(f, "write", _Write)
    for option in (output_option, _format_option, _store_options, _aws_options):
        wrapped = option(wrapped)
    return cast(F, wrapped)


@fix.command()
@click.option("--key", required=True, metavar="ARN", help="The key to change.")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A plan saved with `fix plan --format json` (else: plan now from the options).",
)
@click.option("--yes", is_flag=True, help="Really write the policy (default: dry run).")
@_plan_options
@_write_options
def apply(key: str, plan_file: Path | None, yes: bool, write: _Write, **options: Any) -> int:
    """Apply a verified plan: dry run unless --yes; the live policy is saved first.

    \b
    Examples:
      kmsguard fix apply --key arn:aws:kms:eu-west-1:123456789012:key/K --plan plan.json
      kmsguard fix apply --key arn:aws:kms:eu-west-1:123456789012:key/K --plan plan.json --yes
    """
    from kmsguard.fix.apply import apply_plan
    from kmsguard.fix.offer import offer_for
    from kmsguard.fix.planning import load_plan

    kms = write.kms(key)
    saved: SavedPlan
    if plan_file is not None:
        try:
            text = safeio.read_text(plan_file)
        except OSError as exc:
            raise InputError(f"cannot read `{plan_file}`: {exc.strerror}") from exc
        saved = load_plan(text, str(plan_file))
    else:
        saved = offer_for(
            key=key, kms=kms, policy_file=None, warn=echo_warning, **options
        ).saved()
    result = apply_plan(
        kms, write.store(), saved, key=key, confirm=yes, backup_dir=write.backups()
    )
    return write.finish(result)


@fix.command()
@click.option("--key", required=True, metavar="ARN", help="The key to restore.")
@click.option(
    "--to",
    "to_version",
    type=int,
    metavar="VERSION",
    help="Saved version to restore (default: the policy before the latest apply).",
)
@click.option(
    "--backup",
    "backup_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Restore this backup file instead of a database version.",
)
@click.option("--yes", is_flag=True, help="Really write the policy (default: dry run).")
@click.option(
    "--force",
    is_flag=True,
    help="Restore even if the live policy changed since kmsguard wrote it.",
)
@click.option(
    "--allow-exposed",
    is_flag=True,
    help="Restore even a policy the engine judges public or cross-account (a rollback "
    "of a fix usually restores one: say so on purpose).",
)
@_write_options
def rollback(
    key: str,
    to_version: int | None,
    backup_file: Path | None,
    yes: bool,
    force: bool,
    allow_exposed: bool,
    write: _Write,
) -> int:
    """Restore a saved policy version, byte for byte (dry run unless --yes).

    \b
    Examples:
      kmsguard fix rollback --key arn:aws:kms:eu-west-1:123456789012:key/K
      kmsguard fix rollback --key ARN --backup ~/.kmsguard/backups/K-2026.json --yes
    """
    from kmsguard.fix.apply import rollback as do_rollback

    if backup_file is not None and to_version is not None:
        raise InputError("give at most one of --to VERSION and --backup FILE")
    result = do_rollback(
        write.kms(key),
        write.store(),
        key=key,
        to_version=to_version,
        confirm=yes,
        backup_dir=write.backups(),
        force=force,
        backup_file=backup_file,
        allow_exposed=allow_exposed,
    )
    return write.finish(result)


@fix.command()
@click.option("--key", required=True, metavar="ARN", help="The key (its ARN).")
@click.option("--db", "db_url", metavar="URL", help="Database of saved policies.")
@_format_option
def history(key: str, db_url: str | None, fmt: str) -> int:
    """List the saved policy versions of a key.

    \b
    Examples:
      kmsguard fix history --key arn:aws:kms:eu-west-1:123456789012:key/K
      kmsguard fix history --key ARN --format json
    """
    versions = _store(db_url).versions(key)
    if fmt == "json":
        write_output(json.dumps([v.to_json() for v in versions], indent=2), None)
        return 0
    if not versions:
        write_output(f"no saved policy versions of {key}", None)
        return 0
    lines = [f"saved policy versions of {key}:"]
    for v in versions:
        where = f"  backup {v.backup_path}" if v.backup_path else ""
        note = f"  ({v.note})" if v.note else ""
        lines.append(
            f"  {v.id:>4}  {v.saved_at:%Y-%m-%d %H:%M:%S}Z  {v.reason:<15} "
            f"sha256 {v.sha256[:12]}{note}{where}"
        )
    write_output(terminal_lines(lines), None)
    return 0
