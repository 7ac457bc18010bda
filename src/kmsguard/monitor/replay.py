"""Replay saved events through the monitor: files in file-name order, the records of a file
in order (a CloudTrail log file's `Records`, a JSON array, or one event per line)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kmsguard.errors import InputError
from kmsguard.usage.decode import BadLogFileError, decompress

from .events import MAX_EVENT_BYTES, records_of

#: Larger files are refused (JSON-lines files are streamed line by line and have no limit).
MAX_FILE_BYTES = 256 * 1024 * 1024
_SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules"}
_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".gz")


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One event to handle (`raw`), or a file that could not be read (`error`)."""

    where: str  # path, path:line or path#record
    raw: str | dict[str, object] | None
    error: str | None = None


def replay_files(paths: list[Path]) -> list[Path]:
    """Every event file under `paths`, in file-name order (a directory's files sorted by
    their path). Raises `InputError` for a path that does not exist."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"`{path}` does not exist")
        if path.is_dir():
            found.extend(
                sorted(
                    (
                        p
                        for p in path.rglob("*")
                        if p.name.endswith(_SUFFIXES)
                        and not _SKIP_DIRS.intersection(p.relative_to(path).parts)
                        and p.is_file()
                    ),
                    key=lambda p: str(p.relative_to(path)),
                )
            )
        else:
            found.append(path)
    return found


def _lines(path: Path) -> Iterator[ReplayItem]:
    """The lines of a JSON-lines file, each read with a bounded buffer: a line longer than
    an event may be is skipped (and named), never held in memory whole."""
    with path.open("rb") as handle:
        number = 0
        while True:
            line = handle.readline(MAX_EVENT_BYTES + 1)
            if not line:
                return
            number += 1
            where = f"{path}:{number}"
            if len(line) > MAX_EVENT_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest of the line
                    line = handle.readline(1024 * 1024)
                yield ReplayItem(where, None, f"a line over {MAX_EVENT_BYTES} bytes")
                continue
            if line.strip():
                yield ReplayItem(where, line.decode("utf-8", errors="replace"))


def replay_items(path: Path) -> Iterator[ReplayItem]:
    name = str(path)
    try:
        info = path.stat()
    except OSError as exc:
        yield ReplayItem(name, None, f"cannot read: {exc.strerror}")
        return
    if not stat.S_ISREG(info.st_mode):
        yield ReplayItem(name, None, "not a regular file")
        return
    lines = path.name.endswith((".jsonl", ".ndjson"))
    if lines:
        try:
            yield from _lines(path)
        except OSError as exc:
            yield ReplayItem(name, None, f"cannot read: {exc.strerror}")
        return
    if info.st_size > MAX_FILE_BYTES:
        yield ReplayItem(name, None, f"{info.st_size} bytes, over the {MAX_FILE_BYTES}-byte limit")
        return
    try:
        data = decompress(path.read_bytes())
    except BadLogFileError as exc:
        yield ReplayItem(name, None, exc.reason)
        return
    except OSError as exc:
        yield ReplayItem(name, None, f"cannot read: {exc.strerror}")
        return
    text = data.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        # not one document: JSON lines (a .json.gz of lines), else handled as unreadable
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield ReplayItem(f"{name}:{number}", line)
        return
    records = doc if isinstance(doc, list) else records_of(doc)
    for index, record in enumerate(records):
        where = name if len(records) == 1 else f"{name}#{index}"
        yield ReplayItem(where, record if isinstance(record, dict) else json.dumps(record))
