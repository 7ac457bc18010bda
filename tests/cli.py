"""Run the kmsguard CLI in this process, as a user would from a shell, for tests."""

from __future__ import annotations

import pytest

from kmsguard.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `kmsguard ARGS...`; a non-integer exit is 1."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err
