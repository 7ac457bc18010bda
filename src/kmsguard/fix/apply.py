"""Applying a verified plan to a live key, and rolling back to a saved version.

The order is what makes an interruption harmless: read the live policy, check it is the
one the plan was made from, verify the new policy, save the live one (backup file with
fsync + rename, then a database row), and only then call PutKeyPolicy; finally read the
policy back and judge it again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kmsguard.arn import account_of
from kmsguard.errors import InputError, PolicyParseError
from kmsguard.model import Assessment, TrustZone, Verdict
from kmsguard.policy import analyze_policy
from kmsguard.policy.remediation import Verification, verify
from kmsguard.store.locks import KeyBusyError
from kmsguard.store.policy_versions import (
    PolicyVersion,
    PolicyVersionStore,
    VersionReason,
    sha256_text,
)

from .backup import Backup, file_sha256, load_backup, write_backup
from .kms import KeyPolicyClient
from .outcome import Applied, Skipped, SkipReason
from .planning import SavedPlan, canonical_sha256, policy_diff


class FixRefusedError(InputError):
    """kmsguard would not write the policy (stale plan, failed verification)."""


def _judge(text: str, zone: TrustZone) -> Assessment | None:
    try:
        return analyze_policy(text, zone)
    except PolicyParseError:
        return None


def _write(
    kms: KeyPolicyClient,
    store: PolicyVersionStore,
    *,
    key_arn: str,
    live: str,
    target: str,
    before: VersionReason,
    after: VersionReason,
    backup_dir: Path,
    zone: TrustZone,
    operation: str,
    diff: str,
    note: str | None = None,
) -> Applied:
    # the backup and the row are bound: the backup carries the row's binding digest (key,
    # time, reason, policy hash), the row the hash of the backup's bytes
    saved_at = datetime.now(UTC)
    backup = write_backup(backup_dir, key_arn, live, str(before), saved_at=saved_at)
    saved = store.save(
        key_arn,
        live,
        before,
        backup_path=str(backup),
        next_sha256=sha256_text(target),
        saved_at=saved_at,
        backup_sha256=file_sha256(backup),
    )
    kms.write(key_arn, target, saved=f"version {saved.id} (backup file `{backup}`)")
    readback = kms.read(key_arn)
    written = store.save(key_arn, readback, after, note=note)
    return Applied(
        key_arn=key_arn,
        operation=operation,
        saved=saved,
        written=written,
        backup_path=backup,
        readback_matches=readback == target,
        assessment_after=_judge(readback, zone),
        diff=diff,
    )


def apply_plan(
    kms: KeyPolicyClient,
    store: PolicyVersionStore,
    plan: SavedPlan,
    *,
    key: str,
    confirm: bool,
    backup_dir: Path,
) -> Applied | Skipped:
    key_arn = kms.key_arn(key)
    if plan.key_arn and plan.key_arn != key_arn:
        raise InputError(
            f"the plan is for `{plan.key_arn}`, not `{key_arn}`",
            hint="plan this key with `kmsguard fix plan --key ARN`",
        )
    # one writer per key from the read to the read back: a concurrent apply waits, then
    # finds the policy changed (naming the winner's version) instead of overwriting it
    with store.lock(key_arn, "fix apply"):
        return _apply_locked(kms, store, plan, key_arn, confirm=confirm, backup_dir=backup_dir)


def _apply_locked(
    kms: KeyPolicyClient,
    store: PolicyVersionStore,
    plan: SavedPlan,
    key_arn: str,
    *,
    confirm: bool,
    backup_dir: Path,
) -> Applied | Skipped:
    live = kms.read(key_arn)
    live_canonical = canonical_sha256(live)
    if live == plan.new_policy or (
        live_canonical is not None and live_canonical == canonical_sha256(plan.new_policy)
    ):
        return Skipped(key_arn, SkipReason.UNCHANGED, "the live policy already is the planned one")
    live_sha = sha256_text(live)
    same = live_sha == plan.old_policy_sha256 or (
        plan.old_policy_canonical_sha256 is not None
        and live_canonical == plan.old_policy_canonical_sha256
    )
    diff = policy_diff(live, plan.new_policy, key_arn)
    if not same:
        winner = _written_by_kmsguard(store, key_arn, live_sha)
        if winner is not None:
            raise KeyBusyError(
                f"another kmsguard run changed `{key_arn}` first: the live policy is saved "
                f"version {winner.id} ({winner.reason} at {winner.saved_at:%Y-%m-%d %H:%M:%S}Z, "
                f"sha256 {live_sha[:12]}); nothing was written",
                hint="plan again from the live policy: `kmsguard fix plan --key ARN ...`",
            )
        return Skipped(
            key_arn,
            SkipReason.STALE,
            f"the live policy changed since the plan was made (sha256 {live_sha[:12]}, "
            f"planned from {plan.old_policy_sha256[:12]})",
            diff,
        )
    verification = verify(
        live,
        plan.new_policy,
        plan.callers,
        plan.zone,
        key_account=plan.key_account,
        keep_external=plan.keep_external,
    )
    if not verification.ok:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in verification.failures)
        return Skipped(key_arn, SkipReason.UNSAFE, failed, diff, verification)
    if not confirm:
        return Skipped(
            key_arn, SkipReason.DRY_RUN, "dry run: pass --yes to apply", diff, verification
        )
    return _write(
        kms,
        store,
        key_arn=key_arn,
        live=live,
        target=plan.new_policy,
        before=VersionReason.BEFORE_APPLY,
        after=VersionReason.APPLIED,
        backup_dir=backup_dir,
        zone=plan.zone,
        operation="apply",
        diff=diff,
    )


def _written_by_kmsguard(
    store: PolicyVersionStore, key_arn: str, live_sha: str
) -> PolicyVersion | None:
    """The newest version kmsguard wrote (or was writing) whose policy is live now."""
    for v in reversed(store.versions(key_arn)):
        if v.reason in (VersionReason.APPLIED, VersionReason.ROLLED_BACK) and v.sha256 == live_sha:
            return v
        if v.next_sha256 == live_sha:
            return v
    return None


def restore_verified(
    kms: KeyPolicyClient,
    store: PolicyVersionStore,
    *,
    key_arn: str,
    live: str,
    target: str,
    zone: TrustZone,
    backup_dir: Path,
    note: str,
) -> Applied:
    """Write `target` in place of `live`, saving `live` first (backup file, then database).

    For callers that hold the key's lock, read `live` themselves and verified `target`
    against it: `rollback`, and the monitor's `--remediate` restoring the last private
    policy."""
    return _write(
        kms,
        store,
        key_arn=key_arn,
        live=live,
        target=target,
        before=VersionReason.BEFORE_ROLLBACK,
        after=VersionReason.ROLLED_BACK,
        backup_dir=backup_dir,
        zone=zone,
        operation="rollback",
        diff=policy_diff(live, target, key_arn),
        note=note,
    )


def _last_written(store: PolicyVersionStore, key_arn: str) -> set[str]:
    """Hashes the live policy may have if nobody but kmsguard changed it: the policy it last
    read back after a write, or (if it was interrupted before reading back) the one it was
    writing."""
    versions = store.versions(key_arn)
    if not versions:
        return set()
    last = versions[-1]
    if last.reason in (VersionReason.APPLIED, VersionReason.ROLLED_BACK):
        return {last.sha256}
    return {last.sha256} | ({last.next_sha256} if last.next_sha256 else set())


class TamperedError(InputError):
    """A saved version and its backup disagree: one of them was edited."""


def _check_version(version: PolicyVersion) -> None:
    """A saved version is restored only if it is what was saved: its policy matches its
    hash, and its backup file (when it has one) is the file it recorded, holding the same
    policy and carrying this row's binding digest."""
    where = f"saved version {version.id} of `{version.key_arn}`"
    if sha256_text(version.policy) != version.sha256:
        raise TamperedError(
            f"{where} was altered: its policy does not match its sha256",
            hint="restore from its backup file with --backup FILE after checking it",
        )
    if version.backup_sha256 is None:
        return  # written back by kmsguard (applied / rolled-back), or by kmsguard < 0.2
    path = Path(version.backup_path or "")
    try:
        backup = load_backup(path)
    except InputError as exc:
        raise TamperedError(
            f"{where} cannot be checked against its backup: {exc.message}",
            hint="the backup file is bound to the saved version; restore it with --backup "
            "FILE if you have a copy",
        ) from None
    if (
        backup.file_sha256 != version.backup_sha256
        or backup.policy != version.policy
        or backup.key_arn != version.key_arn
        or backup.binding != version.binding
    ):
        raise TamperedError(
            f"{where} and its backup `{path}` disagree: one of them was altered",
            hint="compare the two; nothing was written",
        )


def _check_backup(store: PolicyVersionStore, backup: Backup) -> str | None:
    """A backup file is restored only if the saved version it is bound to (if the database
    has it) agrees. Returns a note when the database has no version to check against."""
    versions = store.versions(backup.key_arn)
    bound = [v for v in versions if backup.binding is not None and v.binding == backup.binding]
    if not bound:
        if backup.binding is not None and any(v.backup_sha256 for v in versions):
            raise TamperedError(
                f"the backup `{backup.path}` matches no saved version of `{backup.key_arn}`: "
                "it or the database was altered",
                hint="nothing was written",
            )
        return (
            "the backup could not be checked against a saved version (none in this "
            "database): only its own hash was checked"
        )
    version = bound[-1]
    if version.backup_sha256 not in (None, backup.file_sha256) or version.policy != backup.policy:
        raise TamperedError(
            f"the backup `{backup.path}` and saved version {version.id} disagree: one of "
            "them was altered",
            hint="nothing was written",
        )
    return None


def _rollback_target(
    store: PolicyVersionStore, key_arn: str, to_version: int | None, backup_file: Path | None
) -> tuple[str, str, str | None]:
    """(policy text, how to name it, a note) of what a rollback restores, checked for
    tampering."""
    if backup_file is not None:
        backup = load_backup(backup_file)
        if backup.key_arn != key_arn:
            raise InputError(
                f"the backup `{backup_file}` is of `{backup.key_arn}`, not `{key_arn}`"
            )
        note = _check_backup(store, backup)
        return backup.policy, f"backup `{backup_file.name}`", note
    versions = store.versions(key_arn)
    if not versions:
        raise InputError(
            f"no saved policy for `{key_arn}`",
            hint="kmsguard saves a key's policy when `fix apply --yes` changes it; "
            "a backup file can be restored with --backup FILE",
        )
    if to_version is None:
        found = store.latest(key_arn, (VersionReason.BEFORE_APPLY,))
        if found is None:
            raise InputError(f"`{key_arn}` was never changed by `fix apply`", hint="pass --to")
    else:
        found = store.get(key_arn, to_version)
        if found is None:
            ids = ", ".join(str(v.id) for v in versions)
            raise InputError(
                f"no saved version {to_version} of `{key_arn}`",
                hint=f"saved versions: {ids} (see `kmsguard fix history --key ARN`)",
            )
    _check_version(found)
    return found.policy, f"version {found.id}", None


def rollback(
    kms: KeyPolicyClient,
    store: PolicyVersionStore,
    *,
    key: str,
    to_version: int | None,
    confirm: bool,
    backup_dir: Path,
    zone: TrustZone | None = None,
    force: bool = False,
    backup_file: Path | None = None,
    allow_exposed: bool = False,
) -> Applied | Skipped:
    """Restore a saved version (default: the policy before kmsguard's latest apply) or a
    backup file, byte for byte — only if it is what was saved (row and backup agree) and,
    unless `allow_exposed`, only if the engine does not judge it exposed."""
    key_arn = kms.key_arn(key)
    with store.lock(key_arn, "fix rollback"):
        return _rollback_locked(
            kms,
            store,
            key_arn=key_arn,
            to_version=to_version,
            confirm=confirm,
            backup_dir=backup_dir,
            zone=zone or TrustZone(account=account_of(key_arn) or ""),
            force=force,
            backup_file=backup_file,
            allow_exposed=allow_exposed,
        )


def _rollback_locked(
    kms: KeyPolicyClient,
    store: PolicyVersionStore,
    *,
    key_arn: str,
    to_version: int | None,
    confirm: bool,
    backup_dir: Path,
    zone: TrustZone,
    force: bool,
    backup_file: Path | None,
    allow_exposed: bool,
) -> Applied | Skipped:
    target, name, note = _rollback_target(store, key_arn, to_version, backup_file)
    live = kms.read(key_arn)
    diff = policy_diff(live, target, key_arn)
    if live == target:
        return Skipped(key_arn, SkipReason.UNCHANGED, f"the live policy already is {name}")
    written = _last_written(store, key_arn)
    if written and sha256_text(live) not in written and not force:
        return Skipped(
            key_arn,
            SkipReason.STALE,
            "the live policy is not one kmsguard wrote: it changed since; rolling back "
            "would discard that change (pass --force to do it anyway)",
            diff,
        )
    judged = _judge(target, zone)
    if not allow_exposed and (judged is None or judged.verdict not in (Verdict.PRIVATE,)):
        verdict = "cannot be judged" if judged is None else f"is {judged.verdict}"
        return Skipped(
            key_arn,
            SkipReason.EXPOSED,
            f"{name} {verdict}: restoring it would expose the key again (pass "
            "--allow-exposed to restore it anyway)",
            diff,
        )
    try:
        verification: Verification | None = verify(
            live, target, (), zone, key_account=zone.account
        )
    except PolicyParseError:
        verification = None  # the live policy is unreadable: nobody's access can be compared
    if verification is not None and not verification.lockout_ok and not force:
        failed = "; ".join(c.detail for c in verification.failures if c.name == "lockout")
        return Skipped(key_arn, SkipReason.UNSAFE, failed, diff, verification)
    if not confirm:
        detail = f"dry run: pass --yes to restore {name}"
        return Skipped(key_arn, SkipReason.DRY_RUN, f"{detail} ({note})" if note else detail, diff)
    return restore_verified(
        kms,
        store,
        key_arn=key_arn,
        live=live,
        target=target,
        zone=zone,
        backup_dir=backup_dir,
        note=f"restored {name}" + (f"; {note}" if note else ""),
    )
