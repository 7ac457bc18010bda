"""The terminal side of the commands: width, colour, `--quiet` and `--verbose`."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_WIDTH = 120


def width() -> int | None:
    """`COLUMNS` when set, else the terminal's width when standard output is a terminal;
    None for a pipe or a file (tables are 120 wide, detail lines stay whole for grep)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 40:
        return int(columns)
    if sys.stdout.isatty():
        try:
            return max(40, os.get_terminal_size(sys.stdout.fileno()).columns)
        except OSError:
            return None
    return None


def fit(text: str) -> str:
    """A message wrapped at the terminal's width (whole when the width is unknown)."""
    columns = width()
    if columns is None:
        return text
    return textwrap.fill(text, width=columns, subsequent_indent="  ", break_on_hyphens=False)


def use_color(to_file: bool) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    return not to_file and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def verbosity_options(f: F) -> F:
    f = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Also say what was read and how long each step took (on standard error).",
    )(f)
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="Print the findings only: no summary, notes or warnings.",
    )(f)


@dataclass
class Log:
    """Progress notes for `--verbose`, on standard error so reports stay clean."""

    verbose: bool = False
    quiet: bool = False

    @classmethod
    def of(cls, quiet: bool, verbose: bool) -> Log:
        if quiet and verbose:
            raise click.UsageError("--quiet and --verbose cannot be combined")
        return cls(verbose=verbose, quiet=quiet)

    def info(self, message: str) -> None:
        if self.verbose:
            click.echo(fit(f"kmsguard: {message}"), err=True)

    @contextmanager
    def timed(self, what: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.info(f"{what} in {time.perf_counter() - start:.2f} s")
