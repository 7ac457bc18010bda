"""Local backup files of replaced key policies: 0600 in a 0700 folder, written so that an
interruption at any point (a kill, a full disk) leaves either no file or a complete one and
never a temporary file.

A backup and its database row are bound to each other: the backup carries the row's
binding digest (key ARN, time, reason, policy hash) and the row carries the sha256 of the
backup's bytes, so neither can be edited alone without a rollback noticing."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kmsguard import safeio
from kmsguard.errors import InputError
from kmsguard.store.database import StoreError, user_data_dir
from kmsguard.store.policy_versions import binding_digest, sha256_text

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_BACKUP_BYTES = 4 * 1024 * 1024  # a key policy is at most 32 KB


def default_backup_dir() -> Path:
    return user_data_dir() / "backups"


@dataclass(frozen=True, slots=True)
class Backup:
    """A backup file as read: what it restores and what binds it to its row."""

    path: Path
    key_arn: str
    policy: str
    saved_at: datetime | None
    reason: str | None
    binding: str | None  # the row's binding digest; None in backups of kmsguard < 0.2
    file_sha256: str  # of the file's bytes, which the row records


def write_backup(
    directory: Path,
    key_arn: str,
    policy: str,
    reason: str,
    *,
    saved_at: datetime | None = None,
) -> Path:
    """Save `policy` (byte for byte, inside a JSON envelope) and return the file's path."""
    now = saved_at or datetime.now(UTC)
    sha = sha256_text(policy)
    key_id = _UNSAFE.sub("_", key_arn.rsplit("/", 1)[-1])
    name = f"{key_id}-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{reason}-{sha[:12]}.json"
    envelope = {
        "kmsguard_backup": 2,
        "key_arn": key_arn,
        "saved_at": now.isoformat(),
        "reason": reason,
        "sha256": sha,
        "binding": binding_digest(key_arn, now, reason, sha),
        "policy": policy,
    }
    data = (json.dumps(envelope, indent=2) + "\n").encode("utf-8")
    try:
        safeio.private_dir(directory)
        final = directory / name
        safeio.write_private(final, data)
    except OSError as exc:
        raise StoreError(
            f"cannot write the backup of `{key_arn}` to `{directory}`: {exc.strerror}",
            hint="pass --backup-dir with a writable folder; nothing was changed",
        ) from exc
    return final


def file_sha256(path: Path) -> str:
    return hashlib.sha256(safeio.read_bytes(path, MAX_BACKUP_BYTES)).hexdigest()


def load_backup(path: Path) -> Backup:
    """A backup file, checked against its own recorded hash (which only catches damage:
    `apply.rollback` checks it against its database row)."""
    try:
        data = safeio.read_bytes(path, MAX_BACKUP_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read the backup `{path}`: {exc.strerror}") from exc
    try:
        envelope = json.loads(data.decode("utf-8"))
        key_arn, policy, sha = envelope["key_arn"], envelope["policy"], envelope["sha256"]
        if not all(isinstance(v, str) for v in (key_arn, policy, sha)):
            raise TypeError("key_arn, policy and sha256 must be strings")
        saved_at = (
            datetime.fromisoformat(envelope["saved_at"]) if "saved_at" in envelope else None
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"`{path}` is not a kmsguard backup file") from exc
    if sha256_text(policy) != sha:
        raise InputError(f"the backup `{path}` is damaged: its hash does not match")
    binding = envelope.get("binding")
    return Backup(
        path=path,
        key_arn=key_arn,
        policy=policy,
        saved_at=saved_at,
        reason=envelope.get("reason") if isinstance(envelope.get("reason"), str) else None,
        binding=binding if isinstance(binding, str) else None,
        file_sha256=hashlib.sha256(data).hexdigest(),
    )


def read_backup(path: Path) -> tuple[str, str]:
    """(key ARN, policy text) of a backup file, checked against its recorded hash."""
    backup = load_backup(path)
    return backup.key_arn, backup.policy
