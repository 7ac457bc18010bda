"""Local files as hostile input and as private output.

Reading: only regular files, opened without blocking (a FIFO never hangs the run), with a
size limit checked on the open descriptor and enforced while reading (a file that grows, or
`/dev/zero`, cannot exhaust memory). Errors are `OSError`s whose `strerror` says what is
wrong, so every caller that reports unreadable files per input reports these too.

Writing: files that hold key policies are created 0600 in folders created 0700, and appear
complete or not at all (an unnamed temporary file linked into place where the OS allows;
else a named one that is removed on any error).

Reading scope: Terraform's `file()` / `templatefile()` may only read inside the scanned
tree and `--allow-path` folders (`read_scope`)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path

DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """A FIFO, device, socket or folder where a file was expected."""


class FileTooLargeError(OSError):
    """A file over the size limit."""


def kind_of_mode(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def not_regular_message(mode: int) -> str:
    return f"not a regular file: it is {kind_of_mode(mode)}"


def not_regular(path: Path, mode: int) -> NotRegularFileError:
    return NotRegularFileError(errno.EINVAL, not_regular_message(mode), str(path))


def too_large(path: Path, size: int | None, max_bytes: int) -> FileTooLargeError:
    what = f"{size} bytes" if size is not None else "larger"
    return FileTooLargeError(errno.EFBIG, f"{what}, over the limit of {max_bytes} bytes", str(path))


def read_bytes(path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`. Raises OSError (FileNotFoundError,
    NotRegularFileError, FileTooLargeError, PermissionError...)."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(path, st.st_mode)
        if st.st_size > max_bytes:
            raise too_large(path, st.st_size, max_bytes)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise too_large(path, None, max_bytes)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """UTF-8 text (a BOM is dropped) of a regular file; UnicodeDecodeError if not UTF-8."""
    return read_bytes(path, max_bytes).decode("utf-8-sig")


# -- private files ---------------------------------------------------------------------------


def private_dir(directory: Path) -> Path:
    """Create `directory` (and missing parents) 0700; an existing folder is left as it is."""
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            directory.chmod(0o700)  # mkdir's mode is masked by the umask
    return directory


def write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write `data` to a new file 0600 that appears complete or not at all: never a
    partial file, never a leftover temporary file (a kill leaves nothing on Linux; an error
    such as a full disk removes what it wrote). Raises FileExistsError unless `replace`."""
    directory = path.parent
    if not replace and _write_unnamed(path, data):
        return
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            tmp.replace(path)
        else:
            os.link(tmp, path)  # fails if `path` exists: never overwrite
            tmp.unlink()
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)


def _write_unnamed(path: Path, data: bytes) -> bool:
    """Linux O_TMPFILE: the data is written to a file with no name, which is linked into
    place only once complete. False when the OS or file system does not offer it."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not Path("/proc/self/fd").is_dir():
        return False
    try:
        fd = os.open(path.parent, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return False
        raise
    try:
        _write_all(fd, data)
        os.fsync(fd)
        # linkat(AT_SYMLINK_FOLLOW): CPython calls plain link(), which does not follow the
        # /proc link, unless a dir_fd is given
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.link(
                f"/proc/self/fd/{fd}",
                path.name,
                src_dir_fd=dir_fd,
                dst_dir_fd=dir_fd,
                follow_symlinks=True,
            )
        finally:
            os.close(dir_fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- where Terraform's file() may read ------------------------------------------------------

_SCOPE: ContextVar[tuple[Path, ...] | None] = ContextVar("kmsguard_read_scope", default=None)


@contextlib.contextmanager
def read_scope(roots: Sequence[Path]) -> Iterator[None]:
    """While active, `outside_scope` refuses paths outside `roots` (resolved; a scanned
    file's folder stands for the file)."""
    resolved = []
    for root in roots:
        r = root.resolve()
        resolved.append(r if r.is_dir() else r.parent)
    token = _SCOPE.set(tuple(resolved))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def outside_scope(path: Path) -> bool:
    """Whether `path` (symbolic links followed) is outside the active read scope."""
    roots = _SCOPE.get()
    if roots is None:
        return False
    target = path.resolve()
    return not any(target == r or target.is_relative_to(r) for r in roots)
