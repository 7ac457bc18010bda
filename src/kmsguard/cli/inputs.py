"""Reading policy inputs named on the command line: files, directories (recursively,
`*.json`), and `-` for standard input. Unreadable inputs become problems, not crashes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kmsguard import safeio

MAX_POLICY_BYTES = 5 * 1024 * 1024  # key policies are at most 32 KB; this only guards memory


@dataclass(frozen=True, slots=True)
class PolicyInput:
    source: str  # as the user named it (or the path found under a named directory)
    text: str | None
    problem: str | None = None


def read_inputs(paths: tuple[str, ...]) -> Iterator[PolicyInput]:
    for raw in paths:
        if raw == "-":
            yield PolicyInput("-", sys.stdin.read())
            continue
        path = Path(raw)
        if path.is_dir():
            found = False
            for file in _walk_json(path):
                found = True
                yield _read_file(file, str(file))
            if not found:
                yield PolicyInput(raw, None, f"no `*.json` files under `{raw}`")
        else:
            yield _read_file(path, raw)


def _walk_json(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".json"):
                yield Path(dirpath) / name


def _read_file(path: Path, source: str) -> PolicyInput:
    try:
        # regular files only, opened without blocking: a FIFO or /dev/zero is an error
        data = safeio.read_bytes(path, MAX_POLICY_BYTES)
    except safeio.FileTooLargeError:
        return PolicyInput(
            source, None, f"`{source}` is over {MAX_POLICY_BYTES} bytes; a key policy is at "
            "most 32 KB"
        )
    except safeio.NotRegularFileError as exc:
        return PolicyInput(source, None, f"`{source}` is {exc.strerror}")
    except FileNotFoundError:
        return PolicyInput(source, None, f"`{source}`: no such file")
    except IsADirectoryError:
        return PolicyInput(source, None, f"`{source}` is a directory")
    except OSError as exc:
        return PolicyInput(source, None, f"`{source}` cannot be read: {exc.strerror}")
    try:
        return PolicyInput(source, data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return PolicyInput(source, None, f"`{source}` is not UTF-8 text (binary file?)")
