"""Local backup files of replaced key policies, written so that an interruption at any
point leaves either no file or a complete one (write to a temp file, fsync, rename)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from kmsguard.errors import InputError
from kmsguard.store.database import StoreError, user_data_dir
from kmsguard.store.policy_versions import sha256_text

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_backup_dir() -> Path:
    return user_data_dir() / "backups"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_backup(directory: Path, key_arn: str, policy: str, reason: str) -> Path:
    """Save `policy` (byte for byte, inside a JSON envelope) and return the file's path."""
    now = datetime.now(UTC)
    sha = sha256_text(policy)
    key_id = _UNSAFE.sub("_", key_arn.rsplit("/", 1)[-1])
    name = f"{key_id}-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{reason}-{sha[:12]}.json"
    envelope = {
        "kmsguard_backup": 1,
        "key_arn": key_arn,
        "saved_at": now.isoformat(),
        "reason": reason,
        "sha256": sha,
        "policy": policy,
    }
    data = (json.dumps(envelope, indent=2) + "\n").encode("utf-8")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / name
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(final)
        _fsync_dir(directory)
    except OSError as exc:
        raise StoreError(
            f"cannot write the backup of `{key_arn}` to `{directory}`: {exc.strerror}",
            hint="pass --backup-dir with a writable folder; nothing was changed",
        ) from exc
    return final


def read_backup(path: Path) -> tuple[str, str]:
    """(key ARN, policy text) of a backup file, checked against its recorded hash."""
    try:
        envelope = json.loads(path.read_text(encoding="utf-8"))
        key_arn, policy, sha = envelope["key_arn"], envelope["policy"], envelope["sha256"]
    except OSError as exc:
        raise InputError(f"cannot read the backup `{path}`: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"`{path}` is not a kmsguard backup file") from exc
    if sha256_text(policy) != sha:
        raise InputError(f"the backup `{path}` is damaged: its hash does not match")
    return str(key_arn), str(policy)
