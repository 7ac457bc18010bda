"""Find the files an IaC scan reads, with guards: size limit, binary files, symlink loops,
vendored folders. Problems are per-file errors; the walk goes on."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatch
from pathlib import Path

from kmsguard import safeio

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
SKIP_DIRS = frozenset(
    {
        ".terraform",
        "node_modules",
        ".git",
        ".terragrunt-cache",
        "cdk.out.tmp",
        "site-packages",
        ".tox",
        "__pycache__",
    }
)
#: Well-known files that are never templates (lock files can be many megabytes).
SKIP_NAMES = frozenset(
    {
        "package.json",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "pnpm-lock.yaml",
        "composer.json",
        "composer.lock",
        "tsconfig.json",
        "jsconfig.json",
        "cdk.json",
        "cdk.context.json",
        ".eslintrc.json",
        "renovate.json",
    }
)
_SNIFF_BYTES = 8192


class FileKind(StrEnum):
    TERRAFORM = "terraform"  # *.tf
    YAML = "yaml"  # *.yaml, *.yml, *.template: CloudFormation candidates
    JSON = "json"  # *.json: CloudFormation, plan JSON or a plain policy
    TERRAGRUNT = "terragrunt"  # terragrunt.hcl: not evaluated, named in a note


_SUFFIX_KIND = {
    ".tf": FileKind.TERRAFORM,
    ".yaml": FileKind.YAML,
    ".yml": FileKind.YAML,
    ".template": FileKind.YAML,
    ".json": FileKind.JSON,
}


@dataclass(frozen=True, slots=True)
class Candidate:
    path: Path  # the path to open
    display: str  # the path as reported (relative to the scanned PATH's parent where given)
    kind: FileKind
    explicit: bool = False  # named as a PATH itself, not found in a folder


@dataclass(frozen=True, slots=True)
class FileProblem:
    display: str
    message: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Discovery:
    candidates: tuple[Candidate, ...]
    problems: tuple[FileProblem, ...]


def kind_of(path: Path) -> FileKind | None:
    name = path.name.lower()
    if name.endswith(".tf.json"):
        return FileKind.TERRAFORM
    if name in SKIP_NAMES:
        return None  # tool configuration, lock files
    if name == "terragrunt.hcl":
        return FileKind.TERRAGRUNT
    if path.parent.name == "cdk.out" and not name.endswith(".template.json"):
        return None  # CDK's assembly: only the synthesized templates are templates
    return _SUFFIX_KIND.get(path.suffix.lower())


def _display(path: Path) -> str:
    text = str(path)
    return text[2:] if text.startswith("./") else text


def discover(
    paths: Iterable[Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    exclude: tuple[str, ...] = (),
) -> Discovery:
    """Walk every PATH; a PATH that is a file is taken whatever its name."""
    candidates: list[Candidate] = []
    problems: list[FileProblem] = []
    seen_files: set[tuple[int, int]] = set()
    for root in paths:
        for item in _walk(root, problems, exclude, explicit=True):
            path, kind = item
            explicit = path == root
            problem = _check_file(path, max_bytes, seen_files)
            if problem is True:
                continue
            if isinstance(problem, tuple):
                problems.append(FileProblem(_display(path), problem[0], problem[1]))
                continue
            candidates.append(Candidate(path, _display(path), kind, explicit))
    return Discovery(tuple(candidates), tuple(problems))


def _excluded(path: Path, exclude: tuple[str, ...]) -> bool:
    text = _display(path)
    return any(fnmatch(text, pat) or fnmatch(path.name, pat) for pat in exclude)


def _walk(
    root: Path, problems: list[FileProblem], exclude: tuple[str, ...], *, explicit: bool
) -> Iterator[tuple[Path, FileKind]]:
    try:
        st = root.stat()
    except OSError as exc:
        problems.append(_os_problem(root, exc))
        return
    if stat.S_ISREG(st.st_mode):
        kind = kind_of(root)
        if kind is None and explicit:
            kind = FileKind.JSON if root.suffix.lower() == ".json" else FileKind.YAML
        if kind is not None:
            yield root, kind
        return
    if not stat.S_ISDIR(st.st_mode):
        # a FIFO or device named on the command line: an error, not "0 files scanned"
        problems.append(FileProblem(_display(root), safeio.not_regular_message(st.st_mode)))
        return
    visited: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
    stack: list[Path] = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(_os_problem(folder, exc))
            continue
        subdirs: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if _excluded(path, exclude):
                continue
            try:
                est = entry.stat(follow_symlinks=True)
            except OSError as exc:
                if entry.is_symlink():
                    problems.append(
                        FileProblem(
                            _display(path),
                            f"cannot follow symbolic link: {exc.strerror or exc}",
                            "the link is broken or loops back on itself",
                        )
                    )
                else:
                    problems.append(_os_problem(path, exc))
                continue
            if stat.S_ISDIR(est.st_mode):
                if entry.name in SKIP_DIRS or (Path(entry.path) / "pyvenv.cfg").exists():
                    continue  # tool caches, dependencies, Python virtual environments
                key = (est.st_dev, est.st_ino)
                if key in visited:
                    if entry.is_symlink():
                        problems.append(
                            FileProblem(
                                _display(path),
                                "symbolic link loop: the folder was already scanned",
                                "the link points back to one of its parent folders",
                            )
                        )
                    continue
                visited.add(key)
                subdirs.append(path)
            elif stat.S_ISREG(est.st_mode):
                kind = kind_of(path)
                if kind is not None:
                    yield path, kind
            elif kind_of(path) is not None:  # e.g. a FIFO named main.tf: never opened
                problems.append(
                    FileProblem(_display(path), safeio.not_regular_message(est.st_mode))
                )
        stack.extend(reversed(subdirs))


def _os_problem(path: Path, exc: OSError) -> FileProblem:
    return FileProblem(_display(path), f"cannot read: {exc.strerror or exc}")


def _check_file(
    path: Path, max_bytes: int, seen: set[tuple[int, int]]
) -> tuple[str, str | None] | bool | None:
    """None when the file may be read; True to skip it silently (a duplicate through a
    link); else (message, hint)."""
    try:
        st = path.stat()
    except OSError as exc:
        return (f"cannot read: {exc.strerror or exc}", None)
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return True
    seen.add(key)
    if st.st_size > max_bytes:
        return (
            f"file is {st.st_size / 1048576:.1f} MB, over the {max_bytes / 1048576:.1f} MB limit",
            "raise the limit with --max-file-size if this file really is a template",
        )
    return None


class BinaryFileError(ValueError):
    """A NUL byte near the start: not a text template."""


def read_text(path: Path, max_bytes: int = 4 * DEFAULT_MAX_BYTES) -> str:
    """The file's text. Raises BinaryFileError, UnicodeDecodeError or OSError for the
    caller to report (a FIFO, a device or a file over `max_bytes` is an OSError: sizes
    were checked during discovery, but a file read through `file()` or one that grew was
    not)."""
    data = safeio.read_bytes(path, max_bytes)
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise BinaryFileError(str(path))
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8")
