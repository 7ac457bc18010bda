"""Small helpers shared by the demo's parts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def cwd(path: Path) -> Iterator[None]:
    """Run in `path` so reports name the examples' own relative paths."""
    here = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(here)
