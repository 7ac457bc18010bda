"""One writer per key: an advisory lock file per key ARN, held for the whole
read-check-write-read back sequence of `fix apply` and `fix rollback`. The kernel drops
the lock when its holder dies (kill -9 included), so a crash never leaves a key locked.
Where `fcntl` is missing (Windows) the lock is a no-op."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from kmsguard.errors import ExitCode, KmsguardError
from kmsguard.safeio import private_dir

try:
    import fcntl
except ImportError:  # pragma: no cover  # Windows
    fcntl = None  # type: ignore[assignment]  # no advisory locks there

DEFAULT_WAIT_SECONDS = 120.0


class KeyBusyError(KmsguardError):
    """Another kmsguard run holds the key, or changed it first: nothing was written."""

    exit_code = ExitCode.INCOMPLETE


def _lock_path(directory: Path, key_arn: str) -> Path:
    return directory / f"{hashlib.sha256(key_arn.encode()).hexdigest()[:32]}.lock"


@contextlib.contextmanager
def key_lock(
    directory: Path, key_arn: str, operation: str, *, wait: float = DEFAULT_WAIT_SECONDS
) -> Iterator[None]:
    """Hold `key_arn`'s lock, waiting up to `wait` seconds for another holder."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        private_dir(directory)
        fd = os.open(_lock_path(directory, key_arn), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise KeyBusyError(
            f"cannot create the lock for `{key_arn}` in `{directory}`: {exc.strerror}"
        ) from exc
    try:
        ends = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= ends:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                    raise KeyBusyError(
                        f"`{key_arn}` is being changed by another kmsguard run ({holder})",
                        hint="nothing was written; retry when it has finished",
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.pwrite(fd, f"pid {os.getpid()}, {operation}, since {stamp}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
